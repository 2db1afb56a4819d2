"""Claiming due deliveries: exclusive leases, expiry, interrupted attempts."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from careseal.queue import leases, store
from careseal.queue.models import Delivery, DeliveryAttempt

pytestmark = pytest.mark.django_db(transaction=True)

LEASE = dt.timedelta(minutes=10)


def queue_messages(count: int, recipients_each: int = 1) -> None:
    for n in range(count):
        store.accept(store.Submission(
            content=b"Subject: s\r\n\r\nbody\r\n", envelope_sender="a@clinic.test",
            recipients=[f"p{n}-{r}@patient.test" for r in range(recipients_each)]))


def test_claim_leases_due_rows() -> None:
    queue_messages(3)

    claimed = leases.claim("w1", 10, LEASE)

    assert len(claimed) == 3
    assert {row.lease_owner for row in claimed} == {"w1"}


def test_claimed_rows_not_claimed_again() -> None:
    queue_messages(3)
    leases.claim("w1", 2, LEASE)

    second = leases.claim("w2", 10, LEASE)

    assert len(second) == 1


def test_future_rows_not_due() -> None:
    queue_messages(1)
    Delivery.objects.update(next_attempt_at=timezone.now() + dt.timedelta(minutes=5))

    assert leases.claim("w1", 10, LEASE) == []


def test_expired_lease_returns_row() -> None:
    queue_messages(1)
    leases.claim("w1", 10, LEASE)
    Delivery.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))

    reclaimed = leases.claim("w2", 10, LEASE)

    assert [row.lease_owner for row in reclaimed] == ["w2"]


def test_expired_lease_marks_attempt_interrupted() -> None:
    queue_messages(1)
    delivery = leases.claim("w1", 10, LEASE)[0]
    attempt = leases.start_attempt(delivery, "w1")
    assert attempt is not None
    Delivery.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))

    leases.claim("w2", 10, LEASE)

    attempt.refresh_from_db()
    assert attempt.outcome == DeliveryAttempt.Outcome.INTERRUPTED
    assert attempt.finished_at is not None


def test_start_attempt_refused_without_lease() -> None:
    queue_messages(1)
    delivery = leases.claim("w1", 10, LEASE)[0]

    assert leases.start_attempt(delivery, "w2") is None


def test_release_frees_unstarted_claims() -> None:
    queue_messages(2)
    claimed = leases.claim("w1", 10, LEASE)

    released = leases.release("w1", [row.pk for row in claimed])

    assert released == 2
    assert len(leases.claim("w2", 10, LEASE)) == 2


def test_concurrent_claims_disjoint() -> None:
    queue_messages(60)
    results: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def work(name: str) -> None:
        barrier.wait()
        taken: list[int] = []
        while batch := leases.claim(name, 5, LEASE):
            taken.extend(row.pk for row in batch)
        results[name] = taken
        connection.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    all_ids = [pk for taken in results.values() for pk in taken]
    assert len(all_ids) == 60
    assert len(set(all_ids)) == 60
