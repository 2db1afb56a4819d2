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


def build_reply(*, patient: str, to: str, original: ReadableMessage, body: str,
                files: list[Any]) -> tuple[bytes, str]:
    """Return the reply's bytes and Message-ID, threaded under the original (RFC 5322 section 3.6.4).

    The reply comes from the gateway's notice address with the patient in
    Reply-To, so it passes the clinic's DMARC checks; a clinician's answer
    to it goes back out through the gateway and its policy.
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
    for upload in files:
        content_type = (upload.content_type or "application/octet-stream").lower()
        maintype, _, subtype = content_type.partition("/")
        if not maintype or not subtype or maintype == "multipart" or maintype == "message":
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(upload.read(), maintype=maintype, subtype=subtype,
                               filename=safe_filename(upload.name))
    return message.as_bytes(), message_id
