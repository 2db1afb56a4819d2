"""Build a patient's portal reply to the clinician who sent the escrowed message."""

from __future__ import annotations

import email.utils
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from django.conf import settings

from careseal.escrow.notices import format_address
from careseal.mail.headers import make_message_id
from careseal.mail.reading import ReadableMessage, safe_filename
from careseal.policy.decision import VERIFIED_TLS
from careseal.queue import store
from careseal.queue.models import Message


def build_reply(*, patient: str, to: str, original: ReadableMessage, body: str,
                files: list[Any]) -> tuple[bytes, str]:
    """Return the reply's bytes and Message-ID, threaded under the original (RFC 5322 section 3.6.4).

    The reply comes from the gateway's notice address with the patient in
    Reply-To, so it passes the clinic's DMARC checks. A clinician's reply to
    it goes back out through the gateway and its policy.
    """
    config = settings.CARESEAL
    message = EmailMessage(policy=SMTP)
    message["From"] = format_address(f"{patient} via {config.practice.name}", config.practice.notices_from)
    message["Reply-To"] = format_address("", patient)
    message["To"] = format_address("", to)
    subject = original.subject or ""
    message["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}".strip()
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message_id = make_message_id(config.hostname)
    message["Message-ID"] = message_id
    if original.message_id:
        message["In-Reply-To"] = original.message_id
        message["References"] = " ".join(filter(None, [original.references, original.message_id]))
    message["X-CareSeal-Origin"] = "patient portal reply"
    message.set_content(body)
    attach_uploads(message, files)
    return message.as_bytes(), message_id


def attach_uploads(message: EmailMessage, files: list[Any]) -> None:
    """Attach uploaded files under safe names; container types become application/octet-stream."""
    for upload in files:
        maintype, _, subtype = (upload.content_type or "application/octet-stream").lower().partition("/")
        if not maintype or not subtype or maintype in ("multipart", "message"):
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(upload.read(), maintype=maintype, subtype=subtype,
                               filename=safe_filename(upload.name))


def queue_to_clinic(content: bytes, message_id: str, recipient: str, reason: str) -> Message:
    """Queue a message from the portal to the practice; it may hold PHI, so it goes by verified TLS only."""
    return store.accept(store.Submission(
        content=content, envelope_sender=settings.CARESEAL.practice.notices_from, recipients=[recipient],
        message_id=message_id, kind=Message.Kind.PORTAL, policy=VERIFIED_TLS, policy_reasons=(reason,),
        body_8bit=not content.isascii(), smtputf8=not recipient.isascii()))
