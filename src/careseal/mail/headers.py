"""Header additions a submission server makes without touching the body.

The body is kept byte for byte, so headers are added by prepending bytes to
the raw message rather than by parsing and serializing it again.
"""

from __future__ import annotations

import email.utils
import re
import secrets

_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)


_LINE_END = re.compile(rb"\r\n|\r|\n")


def normalize_line_endings(raw: bytes) -> bytes:
    """Return *raw* with every bare CR and bare LF turned into CRLF (RFC 5321 section 2.3.8)."""
    crlf = raw.count(b"\r\n")
    if crlf == raw.count(b"\r") == raw.count(b"\n"):
        return raw  # already CRLF throughout; counting is far cheaper than the regex pass
    return _LINE_END.sub(b"\r\n", raw)


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """Split *raw* into its header block (with its final CRLF) and the rest, separator included."""
    if raw.startswith(b"\r\n"):
        return b"", raw
    index = raw.find(b"\r\n\r\n")
    if index < 0:
        return raw, b""
    return raw[:index + 2], raw[index + 2:]


def header_names(header_block: bytes) -> set[str]:
    """Return the lower-case names of the fields in *header_block*, ignoring continuation lines."""
    names: set[str] = set()
    for line in header_block.split(b"\r\n"):
        if not line or line[:1] in (b" ", b"\t"):
            continue
        match = _FIELD_NAME.match(line)
        if match:
            names.add(match.group(1).decode("ascii").lower())
    return names


def remove_fields(raw: bytes, name: str) -> bytes:
    """Return *raw* without any header field called *name*, continuation lines included.

    Only the header block changes; the body keeps its bytes.
    """
    header_block, rest = split_message(raw)
    wanted = name.lower().encode("ascii")
    kept: list[bytes] = []
    dropping = False
    for line in header_block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        match = _FIELD_NAME.match(line)
        dropping = bool(match and match.group(1).lower() == wanted)
        if not dropping:
            kept.append(line)
    return b"\r\n".join(kept) + rest


def make_message_id(hostname: str) -> str:
    """Return a new globally unique ``<random@hostname>`` Message-ID."""
    return f"<{secrets.token_hex(16)}@{hostname}>"


def add_submission_headers(raw: bytes, *, hostname: str, received: str) -> tuple[bytes, str]:
    """Prepend ``Received`` and, where missing, ``Message-ID`` and ``Date`` (RFC 6409 section 8).

    ``Bcc`` fields are removed first: their addresses are for the envelope
    only, and RFC 5322 section 3.6.3 lets the sending system drop them.
    Returns the new message and its Message-ID ("" when the message had one).
    """
    raw = remove_fields(raw, "Bcc")
    header_block, _ = split_message(raw)
    names = header_names(header_block)
    added = [received]
    message_id = ""
    if "message-id" not in names:
        message_id = make_message_id(hostname)
        added.append(f"Message-ID: {message_id}")
    if "date" not in names:
        added.append("Date: " + email.utils.formatdate(localtime=False, usegmt=True))
    prefix = "".join(line + "\r\n" for line in added).encode("ascii")
    return prefix + raw, message_id


def received_header(*, helo: str, peer_ip: str, hostname: str, protocol: str, tls: str, queue_id: str) -> str:
    """Return a folded RFC 5321 section 4.4 ``Received`` field without the recipient address.

    The recipient is left out on purpose: RFC 5321 makes the ``for`` clause
    optional, and naming the patient would leak who else got the message.
    """
    safe_helo = re.sub(r"[^A-Za-z0-9.\-\[\]:_]", "?", helo)[:255] or "unknown"
    date = email.utils.formatdate(localtime=False, usegmt=True)
    return (
        f"Received: from {safe_helo} ([{peer_ip}])\r\n"
        f"\tby {hostname} (CareSeal) with {protocol} id {queue_id}\r\n"
        f"\t({tls});\r\n"
        f"\t{date}"
    )
