"""Keep every emitted line within the 998-octet limit of RFC 5322 section 2.1.1.

Mail arrives with longer lines (old clients, generated reports). Passing
them on breaks strict receivers and SMTP itself (RFC 5321 section 4.5.3.1.6),
so a part that contains one is re-encoded as quoted-printable, or base64 where
it is not text. Parts without long lines keep their bytes.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import quopri
from email.message import Message

MAX_LINE_OCTETS = 998

_SMTP_POLICY = email.policy.SMTP.clone(max_line_length=78)


def longest_line(raw: bytes) -> int:
    """Return the length in octets of the longest line of *raw*, without its line ending."""
    return max((len(line.rstrip(b"\r")) for line in raw.split(b"\n")), default=0)


def fold_long_lines(raw: bytes) -> bytes:
    """Return *raw* unchanged if no line is too long, else with long-line parts re-encoded."""
    if longest_line(raw) <= MAX_LINE_OCTETS:
        return raw
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    if message.get("MIME-Version") is None:
        # A Content-Transfer-Encoding means nothing without it (RFC 2045 section 4).
        message["MIME-Version"] = "1.0"
        if message.get("Content-Type") is None:
            message["Content-Type"] = "text/plain; charset=utf-8"
    for part in message.walk():
        if part.is_multipart():
            continue
        _reencode_part(part)
    result = message.as_bytes(policy=_SMTP_POLICY)
    if longest_line(result) > MAX_LINE_OCTETS:
        # Only a header without a folding point can still be too long here.
        # Cut it at the limit as a last resort.
        result = b"\r\n".join(_cut(line) for line in result.split(b"\r\n"))
    return result


def _reencode_part(part: Message) -> None:
    encoded = part.get_payload()
    if not isinstance(encoded, str):
        return
    if longest_line(encoded.encode("utf-8", "surrogateescape")) <= MAX_LINE_OCTETS:
        return
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return
    del part["Content-Transfer-Encoding"]
    if part.get_content_maintype() == "text":
        # Quoted-printable carries line breaks as the serializer's CRLF; a CR
        # left in the payload would be encoded as "=0D" and change the text.
        part.set_payload(quopri.encodestring(payload.replace(b"\r\n", b"\n")).decode("ascii"))
        part["Content-Transfer-Encoding"] = "quoted-printable"
    else:
        part.set_payload(base64.encodebytes(payload).decode("ascii"))
        part["Content-Transfer-Encoding"] = "base64"


def _cut(line: bytes) -> bytes:
    if len(line) <= MAX_LINE_OCTETS:
        return line
    pieces = [line[i:i + MAX_LINE_OCTETS - 1] for i in range(0, len(line), MAX_LINE_OCTETS - 1)]
    return b"\r\n ".join(pieces)
