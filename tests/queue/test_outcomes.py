"""Recording attempt results: retry times, give-up, DSNs and lost leases."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from careseal.queue import leases, outcomes, store
from careseal.queue.models import Delivery, Message
from careseal.transport.smtp import DeliveryResult, HopTry, Outcome

pytestmark = pytest.mark.django_db(transaction=True)

LEASE = dt.timedelta(minutes=10)
CONTENT = b"From: a@clinic.test\r\nSubject: Biopsy\r\n\r\nSECRET BODY\r\n"


def claimed_attempt(sender: str = "a@clinic.test", age: dt.timedelta = dt.timedelta(0)):  # type: ignore[no-untyped-def]
    message = store.accept(store.Submission(content=CONTENT, envelope_sender=sender, recipients=["p@patient.test"]))
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - age)
    delivery = leases.claim("w1", 1, LEASE)[0]
    attempt = leases.start_attempt(delivery, "w1")
    assert attempt is not None
    return delivery, attempt


def deferred() -> DeliveryResult:
    return DeliveryResult(Outcome.DEFERRED, "STARTTLS rejected: 454 4.7.0 no", "4.7.5",
                          [HopTry("mx.patient.test", "127.0.0.1", 25, "mx", "STARTTLS rejected", smtp_code=454)])


def test_deferral_schedules_first_retry() -> None:
    delivery, attempt = claimed_attempt()

    status = outcomes.record(delivery, attempt, deferred(), "w1", CONTENT)

    delivery.refresh_from_db()
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert status == "deferred"
    assert 290 < wait <= 300
    assert delivery.lease_owner == ""


def test_deferral_past_age_limit_fails_with_dsn() -> None:
    delivery, attempt = claimed_attempt(age=dt.timedelta(days=6))

    status = outcomes.record(delivery, attempt, deferred(), "w1", CONTENT)

    dsn = Message.objects.get(kind=Message.Kind.DSN)
    body = store.content(dsn)
    assert status == "failed"
    assert dsn.envelope_sender == ""
    assert list(dsn.deliveries.values_list("recipient", flat=True)) == ["a@clinic.test"]
    assert b"Status: 4.4.7" in body
    assert b"SECRET BODY" not in body
    assert b"Subject: Biopsy" in body


def test_permanent_failure_queues_dsn() -> None:
    delivery, attempt = claimed_attempt()
    result = DeliveryResult(Outcome.FAILED, "RCPT rejected: 550 5.1.1 unknown", "5.1.1",
                            [HopTry("mx.patient.test", "127.0.0.1", 25, "mx", "x", smtp_code=550,
                                    smtp_reply="5.1.1 unknown")])

    outcomes.record(delivery, attempt, result, "w1", CONTENT)

    body = store.content(Message.objects.get(kind=Message.Kind.DSN))
    assert b"Status: 5.1.1" in body
    assert b"Diagnostic-Code: smtp; 550 5.1.1 unknown" in body
    assert b"Remote-MTA: dns; mx.patient.test" in body


def test_failed_null_sender_message_gets_no_dsn() -> None:
    delivery, attempt = claimed_attempt(sender="")
    result = DeliveryResult(Outcome.FAILED, "RCPT rejected: 550", "5.0.0")

    outcomes.record(delivery, attempt, result, "w1", CONTENT)

    assert Message.objects.filter(kind=Message.Kind.DSN).count() == 0


def test_lost_lease_keeps_other_result() -> None:
    delivery, attempt = claimed_attempt()
    Delivery.objects.filter(pk=delivery.pk).update(lease_owner="w2", status=Delivery.Status.DELIVERED)

    outcomes.record(delivery, attempt, deferred(), "w1", CONTENT)

    delivery.refresh_from_db()
    attempt.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert attempt.outcome == "deferred"


def test_unreadable_content_still_gets_dsn() -> None:
    delivery, attempt = claimed_attempt(age=dt.timedelta(days=6))
    Message.objects.filter(pk=delivery.message_id).update(message_id="<biopsy-1@clinic.test>")
    delivery.refresh_from_db()
    message = delivery.message
    unreadable = DeliveryResult(Outcome.DEFERRED, "content storage unavailable; see the gateway log", "4.3.0")

    status = outcomes.record(delivery, attempt, unreadable, "w1", None)

    dsn = Message.objects.get(kind=Message.Kind.DSN)
    body = store.content(dsn)
    assert status == "failed"
    assert list(dsn.deliveries.values_list("recipient", flat=True)) == ["a@clinic.test"]
    assert b"Status: 4.4.7" in body
    assert f"its queue id here is {message.id}.".encode() in body
    assert b"Message-ID: <biopsy-1@clinic.test>" in body
    assert b"Biopsy" not in body
