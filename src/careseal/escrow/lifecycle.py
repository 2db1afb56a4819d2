"""Escrow lifecycle: expiry, reminders, recall, extension, first-open notice and content removal."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from careseal.audit import trail as audit
from careseal.escrow import notices
from careseal.escrow.models import Escrow
from careseal.policy.decision import OPPORTUNISTIC, VERIFIED_TLS
from careseal.queue import store
from careseal.queue.models import Delivery, Message
from careseal.queue.vault import blob_store, loggable
from careseal.vault.blobstore import StorageError

log = logging.getLogger("careseal.escrow")


def listing() -> list[dict[str, Any]]:
    """Return every escrow, newest first, for ``careseal escrow list``."""
    return [
        {"escrow_id": e.id, "queue_id": e.message_id, "recipient": e.recipient, "status": e.status,
         "created_at": e.created_at, "expires_at": e.expires_at, "first_opened_at": e.first_opened_at,
         "reminder_sent_at": e.reminder_sent_at}
        for e in Escrow.objects.order_by("-created_at")
    ]


def format_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No escrowed messages.\n"
    lines = [f"{'QUEUE ID':<20} {'STATUS':<9} {'EXPIRES (UTC)':<16} {'OPENED (UTC)':<16} RECIPIENT"]
    for row in rows:
        opened = row["first_opened_at"].strftime("%Y-%m-%d %H:%M") if row["first_opened_at"] else "-"
        lines.append(f"{row['queue_id']:<20} {row['status']:<9} {row['expires_at']:%Y-%m-%d %H:%M} "
                     f"{opened:<16} {row['recipient']}")
    return "\n".join(lines) + "\n"


def recall(queue_id: str, recipient: str | None = None, actor: str = "operator") -> int:
    """Withdraw the active escrows of a message (read or not); return how many changed."""
    now = timezone.now()
    escrows = Escrow.objects.filter(message_id=queue_id, status=Escrow.Status.ACTIVE)
    if recipient:
        escrows = escrows.filter(recipient=recipient.lower())
    ids = list(escrows.values_list("id", flat=True))
    with transaction.atomic():
        changed = Escrow.objects.filter(pk__in=ids, status=Escrow.Status.ACTIVE).update(
            status=Escrow.Status.RECALLED, closed_at=now)
        audit.record("escrow.recalled", actor=actor, subject={"queue_id": queue_id}, data={"escrows": changed})
    if changed:
        log.info("escrow recalled queue_id=%s count=%d", queue_id, changed)
        remove_unneeded_content(queue_id)
    return changed


def extend(queue_id: str, days: int, actor: str = "operator") -> int:
    """Move the expiry of a message's active escrows *days* later; return how many changed."""
    escrows = list(Escrow.objects.filter(message_id=queue_id, status=Escrow.Status.ACTIVE))
    for escrow in escrows:
        escrow.expires_at = max(escrow.expires_at, timezone.now()) + dt.timedelta(days=days)
        escrow.reminder_sent_at = None
        escrow.save(update_fields=["expires_at", "reminder_sent_at"])
    if escrows:
        audit.record("escrow.extended", actor=actor, subject={"queue_id": queue_id},
                     data={"escrows": len(escrows), "days": days})
        log.info("escrow extended queue_id=%s count=%d days=%d", queue_id, len(escrows), days)
    return len(escrows)


def housekeeping(now: dt.datetime | None = None) -> dict[str, int]:
    """Expire due escrows, send due reminders, and remove content that no escrow can still show."""
    now = now or timezone.now()
    due = list(Escrow.objects.filter(status=Escrow.Status.ACTIVE, expires_at__lte=now).values_list(
        "id", "message_id"))
    with transaction.atomic():
        expired = Escrow.objects.filter(pk__in=[pk for pk, _ in due], status=Escrow.Status.ACTIVE).update(
            status=Escrow.Status.EXPIRED, closed_at=now)
        for escrow_id, queue_id in due:
            audit.record("escrow.expired", subject={"queue_id": queue_id, "escrow_id": escrow_id},
                         data={"opened": Escrow.objects.filter(pk=escrow_id, first_opened_at__isnull=False).exists()})
    for queue_id in {queue_id for _, queue_id in due} | set(_removals_outstanding()) | set(_finished_long_ago(now)):
        remove_unneeded_content(queue_id)
    if expired:
        log.info("escrows expired count=%d", expired)
    return {"expired": expired, "reminded": _send_reminders(now)}


def content_stored(queue_id: str) -> bool:
    return Message.objects.filter(pk=queue_id, content_removed_at__isnull=True).exists()


def _finished_long_ago(now: dt.datetime, limit: int = 200) -> list[str]:
    """Return messages whose deliveries all ended more than [delivery] keep_content ago, content still stored.

    Until then the content serves the check of patients' replies for quoted
    text. After it, keeping the PHI serves no purpose.
    """
    cutoff = now - dt.timedelta(seconds=settings.CARESEAL.delivery.keep_content)
    return list(Message.objects.filter(content_removed_at__isnull=True, created_at__lt=cutoff)
                .exclude(deliveries__status__in=Delivery.PENDING)
                .exclude(escrows__status=Escrow.Status.ACTIVE)
                .exclude(deliveries__finished_at__gte=cutoff)
                .values_list("id", flat=True).distinct()[:limit])


def _removals_outstanding(limit: int = 100) -> list[str]:
    """Return messages whose escrows all ended but whose content is still stored, as after a failed delete."""
    ended = (Escrow.Status.RECALLED, Escrow.Status.EXPIRED)
    return list(Message.objects.filter(content_removed_at__isnull=True, escrows__status__in=ended)
                .exclude(escrows__status=Escrow.Status.ACTIVE).values_list("id", flat=True).distinct()[:limit])


def _send_reminders(now: dt.datetime) -> int:
    before = settings.CARESEAL.escrow.reminder_before
    if not before:
        return 0
    due = Escrow.objects.filter(status=Escrow.Status.ACTIVE, first_opened_at__isnull=True,
                                reminder_sent_at__isnull=True, expires_at__gt=now,
                                expires_at__lte=now + dt.timedelta(seconds=before))
    sent = 0
    for escrow in due:
        mail = notices.reminder_notice(recipient=escrow.recipient, expires_at=escrow.expires_at,
                                       language=escrow.language)
        with transaction.atomic():
            if not Escrow.objects.filter(pk=escrow.pk, reminder_sent_at__isnull=True).update(reminder_sent_at=now):
                continue
            store.accept(store.Submission(
                content=mail, envelope_sender=settings.CARESEAL.practice.notices_from, recipients=[escrow.recipient],
                kind=Message.Kind.NOTICE, policy=OPPORTUNISTIC, policy_reasons=("expiry reminder holds no PHI",),
                body_8bit=not mail.isascii(), smtputf8=not escrow.recipient.isascii()))
            audit.record("escrow.reminder_sent", subject={"queue_id": escrow.message_id, "escrow_id": escrow.id})
        sent += 1
        log.info("expiry reminder queued escrow=%s", escrow.id)
    return sent


def first_opened(escrow: Escrow) -> None:
    """Record the first opening and, if configured, tell the sender without naming the patient."""
    now = timezone.now()
    with transaction.atomic():
        if not Escrow.objects.filter(pk=escrow.pk, first_opened_at__isnull=True).update(first_opened_at=now):
            return
        audit.record("portal.message_opened", actor=f"patient:{loggable(escrow.recipient)}",
                     subject={"queue_id": escrow.message_id, "escrow_id": escrow.id},
                     data={"seconds_since_escrow": int((now - escrow.created_at).total_seconds())})
    log.info("message first opened escrow=%s queue_id=%s", escrow.id, escrow.message_id)
    config = settings.CARESEAL
    sender = escrow.message.envelope_sender
    if not config.escrow.notify_sender_on_open or not sender:
        return
    mail = notices.opened_notice(recipient=sender, queue_id=escrow.message_id, queued_at=escrow.message.created_at,
                                 opened_at=now)
    store.accept(store.Submission(
        content=mail, envelope_sender=config.practice.notices_from, recipients=[sender], kind=Message.Kind.NOTICE,
        policy=VERIFIED_TLS, policy_reasons=("open notice to staff",), body_8bit=not mail.isascii(),
        smtputf8=not sender.isascii()))


def remove_unneeded_content(queue_id: str) -> bool:
    """Delete a message's sealed content once no escrow and no pending delivery can need it."""
    if Escrow.objects.filter(message_id=queue_id, status=Escrow.Status.ACTIVE).exists():
        return False
    if Delivery.objects.filter(Q(message_id=queue_id) & Q(status__in=Delivery.PENDING)).exists():
        return False
    if not Message.objects.filter(pk=queue_id, content_removed_at__isnull=True).exists():
        return False
    # The blob goes first: marking the row removed before a failed delete would stop every retry.
    try:
        blob_store().delete(queue_id)
    except StorageError as error:
        log.error("content removal failed, retried by housekeeping queue_id=%s: %s", queue_id, error)
        return False
    if not Message.objects.filter(pk=queue_id, content_removed_at__isnull=True).update(
            content_removed_at=timezone.now()):
        return False
    audit.record("content.removed", subject={"queue_id": queue_id})
    log.info("content removed queue_id=%s", queue_id)
    return True
