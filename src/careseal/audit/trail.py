"""Append audit events to the chain and check it.

Appends serialize on the chain head: PostgreSQL takes a transaction-level
advisory lock, and SQLite's BEGIN IMMEDIATE already admits one writer. The
unique sequence number is a second guard, so two processes can never fork
the chain even if the lock were missing. An append inside a caller's
transaction commits or rolls back with it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from careseal.audit import chain
from careseal.audit.models import AuditAnchor, AuditEvent

log = logging.getLogger("careseal.audit")

# Arbitrary constant naming the audit chain's advisory lock in PostgreSQL.
ADVISORY_LOCK_ID = 0x43415245_5345414C & 0x7FFFFFFFFFFFFFFF


def record(kind: str, *, actor: str = "system", subject: dict[str, Any] | None = None,
           data: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event and return it. Values must be ids, hashes, counts or short codes, never PHI."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])
        head = AuditEvent.objects.order_by("-seq").only("seq", "hash").first()
        now = timezone.now().astimezone(dt.UTC)
        event = chain.Event(
            seq=(head.seq + 1) if head else 1,
            created_at=now.isoformat(timespec="microseconds"),
            kind=kind, actor=actor, subject=subject or {}, data=data or {},
            prev_hash=head.hash if head else chain.GENESIS,
        )
        stored = AuditEvent.objects.create(
            seq=event.seq, created_at=now, kind=kind, actor=actor, subject=event.subject, data=event.data,
            prev_hash=event.prev_hash, hash=chain.compute_hash(event))
    return stored


def as_chain_event(row: AuditEvent) -> chain.Event:
    return chain.Event(seq=row.seq, created_at=row.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
                       kind=row.kind, actor=row.actor, subject=row.subject, data=row.data,
                       prev_hash=row.prev_hash, hash=row.hash)


def events() -> Iterator[chain.Event]:
    for row in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        yield as_chain_event(row)


def verify() -> tuple[int, tuple[int, str] | None]:
    """Check the whole chain; return (number of stored events, first problem or None).

    After pruning, the chain is checked from the newest anchor: the first
    kept event must link to the hash of the last removed one.
    """
    anchor = AuditAnchor.objects.order_by("-seq").first()
    start_prev, start_seq = (anchor.hash, anchor.seq + 1) if anchor else (chain.GENESIS, 1)
    return AuditEvent.objects.count(), chain.first_bad(events(), start_prev=start_prev, start_seq=start_seq)


def prune(retention_seconds: int) -> int:
    """Remove events older than the retention period behind an anchor; return how many went.

    Only this function may delete audit rows: on PostgreSQL it sets a
    transaction-local flag that the append-only trigger lets through.
    """
    cutoff = timezone.now() - dt.timedelta(seconds=retention_seconds)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])
                cursor.execute("SET LOCAL careseal.audit_prune = 'on'")
        last = AuditEvent.objects.filter(created_at__lt=cutoff).order_by("-seq").first()
        head = AuditEvent.objects.order_by("-seq").first()
        if last is None or head is None or last.seq == head.seq:
            return 0  # the newest event is always kept, so the chain head survives
        removed, _ = AuditEvent.objects.filter(seq__lte=last.seq).delete()
        AuditAnchor.objects.create(seq=last.seq, hash=last.hash, removed=removed)
    record("audit.pruned", data={"through_seq": last.seq, "removed": removed})
    log.info("audit pruned through_seq=%d removed=%d", last.seq, removed)
    return removed
