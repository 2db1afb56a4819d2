"""Find and remove the escrow keyword from a message's Subject."""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import re

from careseal.mail.headers import remove_fields, split_message

_SMTP = email.policy.SMTP.clone(max_line_length=78)


def subject_text(raw: bytes) -> str:
    """Return the decoded Subject of *raw* on one line, or "" without one."""
    header_block, _ = split_message(raw)
    parsed = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(header_block)
    try:
        subject = parsed.get("Subject")
    except (ValueError, IndexError):
        return ""
    return " ".join(str(subject).split()) if subject is not None else ""


def strip_keyword(raw: bytes, keyword: str) -> tuple[bytes, bool]:
    """Return *raw* with *keyword* removed from its Subject, and whether it was there.

    Matching ignores case and works on the decoded subject, so an encoded
    word such as ``=?UTF-8?Q?=5Bsecure=5D?=`` counts too. A subject without
    the keyword keeps its bytes; one with it is written anew (RFC 2047
    encoded where needed) in place of the old field.
    """
    if not keyword:
        return raw, False
    header_block, _ = split_message(raw)
    parsed = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(header_block)
    subject = parsed.get("Subject")
    if subject is None:
        return raw, False
    text = str(subject)
    pattern = re.compile(re.escape(keyword), re.IGNORECASE)
    if not pattern.search(text):
        return raw, False

    cleaned = " ".join(pattern.sub(" ", text).split())
    holder = email.message.EmailMessage(policy=_SMTP)
    holder["Subject"] = cleaned
    field_bytes = holder.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n"
    without = remove_fields(raw, "Subject")
    return field_bytes + without, True

