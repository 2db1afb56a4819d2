"""Record the result of a delivery attempt: evidence, new status, retry time and DSN."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from careseal.audit import trail as audit
from careseal.policy.decision import ESCROW, PLAIN_CONSENTED, TLS_OR_ESCROW
from careseal.queue import dsn, retry, store
from careseal.queue.models import Delivery, DeliveryAttempt, Message
from careseal.transport.smtp import DeliveryResult, Outcome

log = logging.getLogger("careseal.delivery")

# RFC 3463 status the transport gives when no next hop could do verified TLS.
NO_SECURE_TRANSPORT = "4.7.5"


def record(delivery: Delivery, attempt: DeliveryAttempt, result: DeliveryResult, worker: str,
           content: bytes | None) -> str:
    """Store the attempt's evidence and move the delivery on; return the delivery's new status.

    A permanent failure, or a deferral past the queue age limit, fails the
    delivery and queues a DSN to the envelope sender in the same transaction,
    unless the message itself has a null sender (a DSN is never bounced).
    """
    config = settings.CARESEAL.delivery
    now = timezone.now()
    message: Message = delivery.message

    if (delivery.policy in (TLS_OR_ESCROW, ESCROW, PLAIN_CONSENTED) and result.outcome is Outcome.DEFERRED
            and result.status_code == NO_SECURE_TRANSPORT):
        _fill_evidence(attempt, result, now)
        attempt.outcome = DeliveryAttempt.Outcome.ESCROWED
        with transaction.atomic():
            attempt.save()
            _audit_attempt(delivery, attempt)
        from careseal.escrow.service import open_escrow

        if open_escrow(delivery, f"no verified TLS: {result.reason}", worker) is None:
            return str(delivery.status)
        return str(Delivery.Status.ESCROWED)
    status = Delivery.Status.DELIVERED
    next_at: dt.datetime | None = None
    reason = result.reason
    dsn_status = result.status_code

    if result.outcome is Outcome.FAILED:
        status = Delivery.Status.FAILED
    elif result.outcome is Outcome.DEFERRED:
        next_at = retry.next_attempt_at(attempts=delivery.attempts, now=now, queued_at=message.created_at,
                                        schedule=config.retry_schedule, max_queue_age=config.max_queue_age)
        if next_at is None:
            status = Delivery.Status.FAILED
            reason = f"gave up after {delivery.attempts} attempts: {result.reason}"
            dsn_status = "4.4.7"
        else:
            status = Delivery.Status.DEFERRED

    _fill_evidence(attempt, result, now)
    with transaction.atomic():
        attempt.save()
        _audit_attempt(delivery, attempt)
        updates: dict[str, object] = {"status": status, "last_reason": reason[:2000],
                                      "lease_owner": "", "lease_expires_at": None}
        if next_at is not None:
            updates["next_attempt_at"] = next_at
        if status in (Delivery.Status.DELIVERED, Delivery.Status.FAILED):
            updates["finished_at"] = now
        changed = Delivery.objects.filter(pk=delivery.pk, lease_owner=worker).update(**updates)
        if not changed:
            # Another worker took the row after our lease expired, so its result is kept.
            log.warning("lease lost queue_id=%s delivery=%s attempt=%d", message.id, delivery.pk, attempt.number)
            return str(delivery.status)
        if status == Delivery.Status.FAILED and _wants_dsn(message):
            # Without content (its blob could not be read) the DSN identifies the message by its ids alone.
            _queue_dsn(message, delivery, result, reason, dsn_status, content)

    log.info("attempt queue_id=%s delivery=%s attempt=%d outcome=%s status=%s next_hop=%s tls=%s",
             message.id, delivery.pk, attempt.number, result.outcome, status,
             attempt.next_hop or "-", attempt.tls_version or "-")
    return str(status)


def _audit_attempt(delivery: Delivery, attempt: DeliveryAttempt) -> None:
    audit.record("delivery.attempt", actor=f"worker:{attempt.worker}",
                 subject={"queue_id": delivery.message_id, "delivery_id": delivery.pk, "attempt": attempt.number},
                 data={"outcome": attempt.outcome, "policy": delivery.policy, "next_hop": attempt.next_hop,
                       "next_hop_source": attempt.next_hop_source, "tls_version": attempt.tls_version,
                       "tls_cipher": attempt.tls_cipher, "cert_fingerprint_sha256": attempt.cert_fingerprint_sha256,
                       "cert_verified": attempt.cert_verified, "smtp_code": attempt.smtp_code,
                       "mta_sts": attempt.mta_sts})


def _wants_dsn(message: Message) -> bool:
    # NOTE: a failed pickup notice or code mail produces no DSN, because its
    # envelope sender is the gateway's own notice address. Staff see the
    # failure in the queue instead.
    return bool(message.envelope_sender) and message.kind not in (Message.Kind.NOTICE, Message.Kind.CODE)


def _fill_evidence(attempt: DeliveryAttempt, result: DeliveryResult, now: dt.datetime) -> None:
    attempt.finished_at = now
    attempt.outcome = str(result.outcome)
    attempt.reason = result.reason[:2000]
    attempt.hops = [_hop_json(h) for h in result.hops]
    attempt.mta_sts = result.mta_sts[:255]
    last = result.last
    if last is None:
        return
    attempt.next_hop = last.name
    attempt.next_hop_source = last.source
    attempt.remote_address = f"{last.address}:{last.port}"
    attempt.cert_verified = last.cert_verified
    attempt.verify_error = last.verify_error[:2000]
    attempt.smtp_code = last.smtp_code
    attempt.smtp_reply = last.smtp_reply[:2000]
    if last.tls is not None:
        attempt.tls_version = last.tls.version
        attempt.tls_cipher = last.tls.cipher
        attempt.cert_subject = last.tls.cert_subject
        attempt.cert_issuer = last.tls.cert_issuer
        attempt.cert_fingerprint_sha256 = last.tls.cert_fingerprint_sha256


def _hop_json(hop: object) -> dict[str, object]:
    data = dataclasses.asdict(hop)  # type: ignore[call-overload]
    return {key: value for key, value in data.items() if value not in (None, "")}


def _queue_dsn(message: Message, delivery: Delivery, result: DeliveryResult, reason: str,
               status_code: str, content: bytes | None) -> None:
    last = result.last
    if not status_code.startswith(("4.", "5.")):
        status_code = "5.0.0"
    failure = dsn.FailedRecipient(
        recipient=delivery.recipient,
        status=status_code,
        remote_mta=last.name if last else "",
        diagnostic=(f"{last.smtp_code} {last.smtp_reply}" if last and last.smtp_code else reason),
    )
    body, message_id = dsn.build(hostname=settings.CARESEAL.hostname, original=content,
                                 original_sender=message.envelope_sender, queued_at=message.created_at,
                                 failures=[failure], hide_subject=message.subject_is_phi,
                                 original_id=message.message_id, queue_id=message.id)
    bounce = store.accept(store.Submission(
        content=body, envelope_sender="", recipients=[message.envelope_sender], message_id=message_id,
        kind=Message.Kind.DSN, body_8bit=not body.isascii(), smtputf8=not message.envelope_sender.isascii(),
    ))
    log.info("dsn queued queue_id=%s for_queue_id=%s delivery=%s status=%s",
             bounce.id, message.id, delivery.pk, status_code)
