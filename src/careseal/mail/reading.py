"""Turn a stored message into what the portal shows: text, HTML parts and attachments.

Every leaf part is classified on its own. Text parts are decoded with their
declared charset, falling back to UTF-8 with replacement characters where
the charset is unknown or the bytes are invalid. The fallback is recorded
as a defect, and the stored original is left as it was.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
import unicodedata
from dataclasses import dataclass, field
from email.message import EmailMessage

DEFAULT_FILENAME = "attachment"
MAX_FILENAME = 120


@dataclass(frozen=True)
class Attachment:
    index: int
    filename: str
    content_type: str
    size: int


@dataclass
class ReadableMessage:
    """The parts of a message the portal shows, in message order."""

    sender: str
    subject: str
    date: str
    message_id: str
    references: str
    texts: list[str] = field(default_factory=list)
    html_parts: list[int] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def parse(raw: bytes) -> EmailMessage:
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def leaf_parts(message: EmailMessage) -> list[EmailMessage]:
    """Return the message's non-multipart parts in order; their index is the portal's part number."""
    return [part for part in message.walk() if not part.is_multipart()]


def readable(raw: bytes) -> ReadableMessage:
    """Classify every leaf part of *raw* as text, HTML or attachment."""
    message = parse(raw)
    result = ReadableMessage(
        sender=_header(message, "From"), subject=_header(message, "Subject"), date=_header(message, "Date"),
        message_id=_header(message, "Message-ID"), references=_header(message, "References"),
    )
    hidden = _hidden_alternatives(message)
    for index, part in enumerate(leaf_parts(message)):
        content_type = part.get_content_type()
        disposition = part.get_content_disposition()
        if index in hidden:
            continue
        if disposition != "attachment" and content_type == "text/plain":
            result.texts.append(decode_text(part, result.defects))
        elif disposition != "attachment" and content_type == "text/html":
            result.html_parts.append(index)
        else:
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            result.attachments.append(Attachment(index, safe_filename(part.get_filename()), content_type, size))
    return result


def _hidden_alternatives(message: EmailMessage) -> set[int]:
    """Return the leaf indexes inside multipart/alternative branches that are not shown.

    Of the alternatives (RFC 2046 section 5.1.4) the portal shows one: the
    last HTML branch, else the last plain-text branch, else the last one.
    """
    hidden: set[int] = set()
    counter = 0

    def visit(part: EmailMessage, hide: bool) -> None:
        nonlocal counter
        if not part.is_multipart():
            if hide:
                hidden.add(counter)
            counter += 1
            return
        children: list[EmailMessage] = list(part.iter_parts())  # type: ignore[arg-type]
        chosen = None
        if part.get_content_type() == "multipart/alternative" and children:
            chosen = _preferred(children)
        for child in children:
            visit(child, hide or (chosen is not None and child is not chosen))

    visit(message, False)
    return hidden


def _preferred(children: list[EmailMessage]) -> EmailMessage:
    for wanted in ("text/html", "text/plain"):
        matches = [c for c in children if c.get_content_type() == wanted or
                   (c.is_multipart() and any(p.get_content_type() == wanted for p in c.walk()))]
        if matches:
            return matches[-1]
    return children[-1]


def decode_text(part: EmailMessage, defects: list[str]) -> str:
    """Return a text part's content, with UTF-8 and replacement characters as the fallback."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset)
    except LookupError:
        defects.append(f"unknown charset {charset[:40]!r}; shown as UTF-8")
    except UnicodeDecodeError:
        defects.append(f"bytes invalid in charset {charset[:40]!r}; shown as UTF-8")
    return payload.decode("utf-8", "replace")


def part_bytes(raw: bytes, index: int) -> tuple[EmailMessage, bytes] | None:
    """Return leaf part *index* and its decoded bytes, or None if there is no such part."""
    parts = leaf_parts(parse(raw))
    if not 0 <= index < len(parts):
        return None
    payload = parts[index].get_payload(decode=True)
    return parts[index], payload if isinstance(payload, bytes) else b""


_UNSAFE_CHARACTERS = re.compile(r'[\x00-\x1f\x7f"*:<>?|\\/]')


def safe_filename(name: str | None) -> str:
    """Return a download name with no folders, control characters or reserved names.

    The last path segment is kept (after either kind of slash). Characters
    that Windows or a shell treat specially become underscores, leading dots
    and spaces go, and an empty or unusable result becomes "attachment".
    The extension survives shortening.
    """
    if not name:
        return DEFAULT_FILENAME
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE_CHARACTERS.sub("_", name).strip().lstrip(". ").rstrip(". ")
    if not name or set(name) <= {"_", "."}:
        return DEFAULT_FILENAME
    if name.split(".")[0].upper() in {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)),
                                       *(f"LPT{i}" for i in range(10))}:
        name = "_" + name
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: MAX_FILENAME - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_FILENAME]
    return name


def header_text(message: EmailMessage, name: str) -> str:
    """Return header *name* decoded and on one line, or "" when it is missing or unreadable."""
    return _header(message, name)


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError):
        return ""
    return " ".join(str(value).split()) if value is not None else ""
