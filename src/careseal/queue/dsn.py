"""Delivery status notifications (RFC 3464) for failed deliveries.

A DSN goes to the envelope sender and carries the original message's header
block only (``text/rfc822-headers``, RFC 6522), never its body, so a bounce
repeats no clinical content. It has a null envelope sender so that it can
never cause another bounce (RFC 5321 section 4.5.5) and is marked
``Auto-Submitted: auto-replied`` (RFC 3834).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import secrets
from dataclasses import dataclass

from careseal.mail.headers import make_message_id, remove_fields, split_message

_UNSAFE = re.compile(r"[^\x20-\x7e]+")
# A header block longer than this is cut: a DSN identifies the message, it does not reproduce it.
MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class FailedRecipient:
    """One recipient the DSN reports, with the RFC 3463 status and the remote reply."""

    recipient: str
    status: str
    remote_mta: str
    diagnostic: str


def build(*, hostname: str, original: bytes | None, original_sender: str, queued_at: dt.datetime,
          failures: list[FailedRecipient], hide_subject: bool = False, original_id: str = "",
          queue_id: str = "") -> tuple[bytes, str]:
    """Return the DSN's bytes (CRLF line endings) and its Message-ID.

    With *hide_subject* (the PHI guard matched the subject), the returned
    header block leaves Subject out. Where the original could not be read
    (*original* is None), the header block holds only its Message-ID
    (*original_id*), and the text names the gateway's *queue_id* for it.
    """
    if original is None:
        original_headers = (f"Message-ID: {_clean(original_id, 900)}\r\n\r\n".encode("ascii")
                            if original_id else b"\r\n")
    else:
        original_headers, _ = split_message(remove_fields(original, "Subject") if hide_subject else original)
        original_headers = original_headers[:MAX_HEADER_BYTES]
    message_id = make_message_id(hostname)
    boundary = "=_careseal_" + secrets.token_hex(12)

    head = [
        f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>",
        f"To: <{original_sender}>",
        "Subject: Undelivered Mail Returned to Sender",
        "Date: " + email.utils.formatdate(localtime=False, usegmt=True),
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a delivery status notification in MIME format.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        *_explanation(hostname, failures, unreadable_queue_id=queue_id if original is None else ""),
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {hostname}",
        "Arrival-Date: " + email.utils.format_datetime(queued_at.astimezone(dt.UTC), usegmt=True),
    ]
    for failure in failures:
        recipient_type = "rfc822" if failure.recipient.isascii() else "utf-8"
        head += [
            "",
            f"Final-Recipient: {recipient_type}; {failure.recipient}",
            "Action: failed",
            f"Status: {failure.status}",
        ]
        if failure.remote_mta:
            head.append(f"Remote-MTA: dns; {_clean(failure.remote_mta, 253)}")
        if failure.diagnostic:
            head.append(f"Diagnostic-Code: smtp; {_clean(failure.diagnostic, 900)}")
    head += [
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
    ]
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    body = "\r\n".join(head).encode("utf-8") + b"\r\n" + original_headers + tail
    return body, message_id


def _explanation(hostname: str, failures: list[FailedRecipient], unreadable_queue_id: str = "") -> list[str]:
    if unreadable_queue_id:
        identification = [
            "The gateway could not read the stored message, so only its Message-ID",
            f"is attached to identify it; its queue id here is {unreadable_queue_id}.",
        ]
    else:
        identification = ["The message itself is not attached; its headers are, to identify it."]
    lines = [
        f"This is the mail system at {hostname}.",
        "",
        "Your message could not be delivered to the recipients below. The",
        "delivery report that follows gives the reason for each.",
        *identification,
        "",
    ]
    lines += [f"  <{f.recipient}>: {_clean(f.diagnostic, 200)}" for f in failures]
    return lines


def _clean(text: str, limit: int) -> str:
    """Collapse *text* to one printable-ASCII line of at most *limit* characters."""
    return _UNSAFE.sub(" ", text).strip()[:limit]
