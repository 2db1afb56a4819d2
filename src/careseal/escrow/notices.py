"""Pickup notices and one-time-code mail: no PHI, two languages, DKIM-signed.

Neither kind of mail names the sender's clinician, the subject, the body or
the patient. A pickup notice carries the practice's name, the expiry date,
the pickup link and a note on how to recognize a genuine notice.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP

import dkim
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.translation import gettext

from careseal.mail.headers import make_message_id

SIGNED_HEADERS = [b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Auto-Submitted", b"MIME-Version",
                  b"Content-Type"]


def pickup_notice(*, recipient: str, token: str, expires_at: dt.datetime, language: str) -> bytes:
    """Return the bytes of a pickup notice for *recipient* with the link for *token*."""
    config = settings.CARESEAL
    link = f"{config.public_url}/p/{token}"
    with translation.override(language):
        context = {
            "practice": config.practice.name,
            "link": link,
            "portal": config.public_url,
            "expires": formats.date_format(expires_at, "DATE_FORMAT"),
            "language": language,
        }
        subject = gettext("Secure message from %(practice)s") % {"practice": config.practice.name}
        text = render_to_string("escrow/pickup_notice.txt", context)
        html = render_to_string("escrow/pickup_notice.html", context)
    return compose(recipient=recipient, subject=subject, text=text, html=html, language=language)


def reminder_notice(*, recipient: str, expires_at: dt.datetime, language: str) -> bytes:
    """Return a reminder that an unopened secure message expires soon; it points to the portal's sign-in."""
    config = settings.CARESEAL
    with translation.override(language):
        context = {"practice": config.practice.name, "portal": config.public_url, "language": language,
                   "expires": formats.date_format(expires_at, "DATE_FORMAT")}
        subject = gettext("Reminder: secure message from %(practice)s") % {"practice": config.practice.name}
        text = render_to_string("escrow/reminder.txt", context)
        html = render_to_string("escrow/reminder.html", context)
    return compose(recipient=recipient, subject=subject, text=text, html=html, language=language)


def opened_notice(*, recipient: str, queue_id: str, queued_at: dt.datetime, opened_at: dt.datetime) -> bytes:
    """Return a note to staff that an escrowed message was first opened; it names only the queue id."""
    text = (f"The secure message with queue id {queue_id}, queued {queued_at:%Y-%m-%d %H:%M} UTC, was first\n"
            f"opened by its recipient on {opened_at:%Y-%m-%d %H:%M} UTC.\n")
    html = f"<p>{text}</p>"
    return compose(recipient=recipient, subject=f"Secure message {queue_id} was opened", text=text, html=html,
                   language="en")


def code_mail(*, recipient: str, code: str, language: str, minutes: int) -> bytes:
    """Return the bytes of a mail that carries a one-time code, and nothing else of note."""
    config = settings.CARESEAL
    with translation.override(language):
        context = {"practice": config.practice.name, "code": code, "minutes": minutes,
                   "portal": config.public_url, "language": language}
        subject = gettext("Your %(practice)s code: %(code)s") % {"practice": config.practice.name, "code": code}
        text = render_to_string("escrow/code.txt", context)
        html = render_to_string("escrow/code.html", context)
    return compose(recipient=recipient, subject=subject, text=text, html=html, language=language)


def compose(*, recipient: str, subject: str, text: str, html: str, language: str,
            auto_submitted: str = "auto-generated", in_reply_to: str = "") -> bytes:
    """Build a multipart/alternative message from the practice, then DKIM-sign it."""
    config = settings.CARESEAL
    message = EmailMessage(policy=SMTP)
    message["From"] = format_address(config.practice.name, config.practice.notices_from)
    message["To"] = format_address("", recipient)
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_message_id(config.hostname)
    message["Auto-Submitted"] = auto_submitted
    if in_reply_to.startswith("<") and in_reply_to.endswith(">") and "\n" not in in_reply_to:
        message["In-Reply-To"] = in_reply_to
    message["Content-Language"] = language
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return sign(message.as_bytes())


def format_address(display_name: str, address: str) -> str:
    """Return one address for a header the gateway writes, display name RFC 2047-encoded on its own.

    Encoding each display name separately, before the list is joined,
    keeps the separating comma outside any encoded word, so the header
    always parses back to the same addresses.
    """
    if not display_name:
        return str(Address(addr_spec=address)) if address.isascii() else address
    return email.utils.formataddr((display_name, address), charset="utf-8")


def format_address_list(pairs: list[tuple[str, str]]) -> str:
    """Return a comma-separated address list built from (display name, address) pairs."""
    return ", ".join(format_address(name, address) for name, address in pairs)


def sign(message: bytes) -> bytes:
    """Prepend a DKIM-Signature (relaxed/relaxed, rsa-sha256) made with the instance's key."""
    config = settings.CARESEAL.dkim
    private_key = config.key_file.read_bytes()
    signature = dkim.sign(message, config.selector.encode("ascii"), config.domain.encode("ascii"), private_key,
                          canonicalize=(b"relaxed", b"relaxed"), include_headers=SIGNED_HEADERS)
    return signature + message
