"""Split a reply into the patient's new text and the quoted original, and compare quotes with the original.

Recognized starts of a quoted original, earliest wins: a line of ``>``
quoting, "On ... wrote:" (which mail apps may wrap over two lines),
"-----Original Message-----", and an Outlook header block (a "From:" line
followed within four lines by "Sent:" or "Date:" and by "To:" or
"Subject:"). A signature under the quote (as phone apps add) belongs to
the quoted part.
"""

from __future__ import annotations

import re

_WROTE = re.compile(r"^on\b.{0,200}\bwrote:\s*$", re.IGNORECASE)
_ORIGINAL = re.compile(r"^-{2,}\s*original message\s*-{2,}\s*$", re.IGNORECASE)
_HEADER = re.compile(r"^(from|sent|date|to|cc|subject)\s*:", re.IGNORECASE)
_WORDS = re.compile(r"[^\w%.,/-]+")

MIN_QUOTED_LINE = 16  # characters; shorter lines ("Thanks,", "Hi") are no evidence of quoting


def split_reply(text: str) -> tuple[str, str]:
    """Return (new text, quoted text) of a plain-text reply body."""
    lines = text.replace("\r\n", "\n").split("\n")
    start = _quote_start(lines)
    if start is None:
        return _strip_signature(lines).strip(), ""
    return _strip_signature(lines[:start]).strip(), "\n".join(lines[start:]).strip()


def _quote_start(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(">") or _ORIGINAL.match(stripped) or _WROTE.match(stripped):
            return index
        if index + 1 < len(lines) and _WROTE.match(f"{stripped} {lines[index + 1].strip()}") \
                and stripped.lower().startswith("on "):
            return index
        if stripped.lower().startswith("from:") and _outlook_block(lines[index:index + 5]):
            return index
    return None


def _outlook_block(block: list[str]) -> bool:
    matches = (_HEADER.match(line.strip()) for line in block)
    names = {match.group(1).lower() for match in matches if match}
    return "from" in names and bool(names & {"sent", "date"}) and bool(names & {"to", "subject"})


def _strip_signature(lines: list[str]) -> str:
    for index, line in enumerate(lines):
        if line in ("-- ", "--"):
            return "\n".join(lines[:index])
    return "\n".join(lines)


def quotes_original(quoted: str, original: str) -> bool:
    """Return True if a line of *original* of some length appears in *quoted*, ignoring quoting and spacing."""
    haystack = _normalize(re.sub(r"(?m)^\s*>+ ?", "", quoted))
    for line in original.replace("\r\n", "\n").split("\n"):
        needle = _normalize(line)
        if len(needle) >= MIN_QUOTED_LINE and needle in haystack:
            return True
    return False


def _normalize(text: str) -> str:
    return " ".join(_WORDS.sub(" ", text.lower()).split())
