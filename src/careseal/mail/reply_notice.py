"""Add the reply notice to a message delivered by TLS, without altering the original entity.

The message becomes multipart/mixed: first a multipart/alternative notice
(plain text and HTML, so text and HTML readers both see it), then the
original body entity with its own Content-* fields and bytes unchanged.
Wrapping instead of editing keeps S/MIME and PGP/MIME signatures valid and
leaves every original line as it was, so no line grows past 998 octets.
"""

from __future__ import annotations

import secrets
from email.message import EmailMessage
from email.policy import SMTP

from careseal.mail.headers import split_message

_CONTENT_FIELDS = ("content-type", "content-transfer-encoding", "content-disposition", "content-id",
                   "content-description", "content-language", "content-location", "content-md5")


def add_reply_notice(raw: bytes, text: str, html: str) -> bytes:
    """Return *raw* wrapped in multipart/mixed with the notice as its first part."""
    header_block, rest = split_message(raw)
    body = rest[2:] if rest.startswith(b"\r\n") else rest
    outer: list[bytes] = []
    inner: list[bytes] = []
    current: list[bytes] | None = None
    for line in header_block.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and current is not None:
            current.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
        if name == "mime-version":
            current = None
            continue
        current = inner if name in _CONTENT_FIELDS else outer
        current.append(line)
    if not any(line.lower().startswith(b"content-type:") for line in inner):
        inner.append(b"Content-Type: text/plain; charset=us-ascii")

    boundary = ("=_careseal_notice_" + secrets.token_hex(12)).encode("ascii")
    notice = _notice_part(text, html)
    parts = [
        b"\r\n".join(outer),
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="' + boundary + b'"',
        b"",
        b"--" + boundary,
        notice,
        b"--" + boundary,
        b"\r\n".join(inner),
        b"",
        b"",
    ]
    # The line break before a boundary belongs to the boundary (RFC 2046 section 5.1.1),
    # so one is added after the body: the entity keeps every byte, its last line break too.
    return b"\r\n".join(parts) + body + b"\r\n--" + boundary + b"--\r\n"


def _notice_part(text: str, html: str) -> bytes:
    part = EmailMessage(policy=SMTP)
    part.set_content(text)
    part.add_alternative(html, subtype="html")
    serialized = part.as_bytes()
    headers, _, content = serialized.partition(b"\r\n\r\n")
    kept = [line for line in headers.split(b"\r\n") if not line.lower().startswith(b"mime-version:")]
    content = content.replace(b"\r\nMIME-Version: 1.0\r\n", b"\r\n")
    return b"\r\n".join(kept) + b"\r\n\r\n" + content.rstrip(b"\r\n")

