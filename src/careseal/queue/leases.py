"""Claim due deliveries under a lease, and record each attempt's start and end.

On PostgreSQL the claim is ``SELECT ... FOR UPDATE SKIP LOCKED``, so workers
on several machines take disjoint rows without waiting on each other. On
SQLite, where Django ignores ``FOR UPDATE``, the transaction itself begins
with ``BEGIN IMMEDIATE`` (see settings), which serializes claims.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from careseal.queue.models import Delivery, DeliveryAttempt

log = logging.getLogger("careseal.queue")

INTERRUPTED_REASON = "attempt interrupted: the worker stopped before recording a result"


def claim(worker: str, limit: int, lease: dt.timedelta) -> list[Delivery]:
    """Lease up to *limit* due deliveries to *worker* and return them with their messages."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=Delivery.PENDING, next_attempt_at__lte=now)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .order_by("next_attempt_at", "id")[:limit]
        )
        if not rows:
            return []
        ids = [row.pk for row in rows]
        Delivery.objects.filter(pk__in=ids).update(lease_owner=worker, lease_expires_at=now + lease)
        interrupted = DeliveryAttempt.objects.filter(
            delivery_id__in=ids, outcome=DeliveryAttempt.Outcome.IN_PROGRESS
        ).update(outcome=DeliveryAttempt.Outcome.INTERRUPTED, finished_at=now, reason=INTERRUPTED_REASON)
    if interrupted:
        log.warning("recovered interrupted attempts count=%d worker=%s", interrupted, worker)
    claimed = list(Delivery.objects.filter(pk__in=ids).select_related("message").order_by("next_attempt_at", "id"))
    return [row for row in claimed if row.lease_owner == worker]


def start_attempt(delivery: Delivery, worker: str) -> DeliveryAttempt | None:
    """Commit a new in-progress attempt, or return None if *worker* no longer holds the lease."""
    now = timezone.now()
    with transaction.atomic():
        locked = (Delivery.objects.select_for_update()
                  .filter(pk=delivery.pk, lease_owner=worker, lease_expires_at__gt=now).first())
        if locked is None:
            return None
        number = locked.attempts + 1
        Delivery.objects.filter(pk=delivery.pk).update(attempts=number)
        attempt = DeliveryAttempt.objects.create(delivery=locked, number=number, worker=worker, started_at=now)
    delivery.attempts = number
    return attempt


def release(worker: str, ids: list[int]) -> int:
    """Give back leases on deliveries *worker* claimed but did not start; return how many."""
    if not ids:
        return 0
    with transaction.atomic():
        return Delivery.objects.filter(pk__in=ids, lease_owner=worker).update(lease_owner="", lease_expires_at=None)


def interrupt(attempt: DeliveryAttempt, worker: str) -> None:
    """Mark an attempt cut short by shutdown as interrupted and free its delivery for a retry."""
    now = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.filter(pk=attempt.pk, outcome=DeliveryAttempt.Outcome.IN_PROGRESS).update(
            outcome=DeliveryAttempt.Outcome.INTERRUPTED, finished_at=now, reason=INTERRUPTED_REASON)
        Delivery.objects.filter(pk=attempt.delivery_id, lease_owner=worker).update(
            lease_owner="", lease_expires_at=None)
