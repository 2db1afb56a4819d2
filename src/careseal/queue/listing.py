"""Rows and table output for ``careseal queue list``."""

from __future__ import annotations

from typing import Any

from careseal.queue.models import Delivery, DeliveryAttempt

_ATTEMPT_FIELDS = (
    "number", "started_at", "finished_at", "outcome", "reason", "next_hop", "next_hop_source",
    "remote_address", "mta_sts", "tls_version", "tls_cipher", "cert_subject", "cert_issuer",
    "cert_fingerprint_sha256", "cert_verified", "verify_error", "smtp_code", "smtp_reply",
)


def deliveries(*, include_finished: bool = False) -> list[dict[str, Any]]:
    """Return deliveries, oldest first, each with its message and attempts."""
    rows = Delivery.objects.select_related("message").order_by("message__created_at", "id")
    if not include_finished:
        rows = rows.filter(status__in=Delivery.PENDING)
    attempts: dict[int, list[dict[str, Any]]] = {}
    for attempt in DeliveryAttempt.objects.filter(delivery__in=rows).order_by("delivery_id", "number"):
        attempts.setdefault(attempt.delivery_id, []).append(
            {name: getattr(attempt, name) for name in _ATTEMPT_FIELDS})
    return [
        {
            "queue_id": row.message_id,
            "delivery_id": row.pk,
            "kind": row.message.kind,
            "queued_at": row.message.created_at,
            "size": row.message.size,
            "sender": row.message.envelope_sender,
            "recipient": row.recipient,
            "status": row.status,
            "attempt_count": row.attempts,
            "next_attempt_at": row.next_attempt_at if row.status in Delivery.PENDING else None,
            "last_reason": row.last_reason,
            "attempts": attempts.get(row.pk, []),
        }
        for row in rows
    ]


def format_table(rows: list[dict[str, Any]]) -> str:
    """Return *rows* as a fixed-width table, one delivery per line, like mailq."""
    if not rows:
        return "Queue is empty.\n"
    lines = [f"{'QUEUE ID':<20} {'QUEUED (UTC)':<19} {'STATUS':<9} {'TRIES':>5}  {'RECIPIENT':<32} REASON"]
    for row in rows:
        queued = row["queued_at"].strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{row['queue_id']:<20} {queued:<19} {row['status']:<9} {row['attempt_count']:>5}  "
                     f"{row['recipient']:<32} {row['last_reason'][:80]}")
    return "\n".join(lines) + "\n"
