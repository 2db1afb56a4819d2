"""Accept a message into the queue durably, and read it back."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import timezone

from careseal.audit import trail as audit
from careseal.queue.dbwrite import write_transaction
from careseal.queue.models import Delivery, Message, new_queue_id
from careseal.queue.vault import blob_store, key_ring
from careseal.vault import envelope

log = logging.getLogger("careseal.queue")


@dataclass(frozen=True)
class Submission:
    """A message and its envelope, as a submission server or ``careseal send`` passes it to the queue."""

    content: bytes
    envelope_sender: str
    recipients: Sequence[str]
    submitted_by_id: int | None = None
    message_id: str = ""
    smtputf8: bool = False
    body_8bit: bool = False
    kind: str = Message.Kind.SUBMITTED
    queue_id: str = ""
    policy: str = "verified-tls"
    policy_reasons: tuple[str, ...] = ()
    access_code_hash: str = ""
    # Per-recipient (policy, reasons); recipients not in it get policy and policy_reasons.
    decisions: dict[str, tuple[str, tuple[str, ...]]] | None = None
    subject_is_phi: bool = False


def accept(submission: Submission) -> Message:
    """Seal and store the content, then commit the message and its delivery rows.

    Returns only when both are on disk. Raises StorageFull or StorageError
    from the blob store, or a database error. On any failure no row is
    committed and the blob is removed, so nothing half-written is visible.
    """
    queue_id = submission.queue_id or new_queue_id()
    sealed = envelope.seal(key_ring(), queue_id, submission.content)
    store = blob_store()
    store.put(queue_id, sealed.blob)
    try:
        with write_transaction():
            message = Message.objects.create(
                id=queue_id,
                kind=submission.kind,
                envelope_sender=submission.envelope_sender,
                submitted_by_id=submission.submitted_by_id,
                message_id=submission.message_id[:998],
                size=len(submission.content),
                smtputf8=submission.smtputf8,
                body_8bit=submission.body_8bit,
                key_id=sealed.key_id,
                wrapped_key=sealed.wrapped_key,
                access_code_hash=submission.access_code_hash,
                subject_is_phi=submission.subject_is_phi,
            )
            now = timezone.now()
            chosen = submission.decisions or {}
            default = (submission.policy, submission.policy_reasons)
            deliveries = Delivery.objects.bulk_create(
                Delivery(message=message, recipient=recipient, next_attempt_at=now,
                         policy=chosen.get(recipient, default)[0],
                         policy_reasons=list(chosen.get(recipient, default)[1]))
                for recipient in submission.recipients
            )
            actor = f"staff:{submission.submitted_by_id}" if submission.submitted_by_id else "system"
            audit.record("message.accepted", actor=actor, subject={"queue_id": queue_id},
                         data={"kind": submission.kind, "recipients": len(deliveries),
                               "size": len(submission.content)})
            for delivery in deliveries:
                audit.record("policy.decided", subject={"queue_id": queue_id, "delivery_id": delivery.pk},
                             data={"policy": delivery.policy, "reasons": list(delivery.policy_reasons)})
    except BaseException:
        store.delete(queue_id)
        raise
    log.info("accepted queue_id=%s kind=%s recipients=%d size=%d",
             queue_id, submission.kind, len(submission.recipients), len(submission.content))
    return message


def content(message: Message) -> bytes:
    """Return the decrypted content of *message*; raise DecryptionError or StorageError."""
    blob = blob_store().get(message.id, max_size=envelope.sealed_size(message.size))
    return envelope.open_sealed(key_ring(), message.id, blob, message.key_id, bytes(message.wrapped_key))
