"""Strict reading of a header block's fields, and the address fields that name the author.

Python's email parser is lenient in ways a sender check cannot afford: it
drops a line starting with "From " as a misplaced mbox separator, stops the
header section at the first line it cannot read, and keeps the first of
several addresses run together. Receivers, by contrast, honor the obsolete
syntax of RFC 5322 section 4.5 (space before the colon). So the fields are
read here line by line, and anything ambiguous is rejected.
"""

from __future__ import annotations

import re
from email import errors
from email.policy import default as default_policy

# RFC 5322 section 3.6.8: a field name is printable ASCII except the colon.
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:")

AUTHOR_FIELDS = ("from", "sender", "resent-from", "resent-sender")


class HeaderError(ValueError):
    """A header block that cannot be read without guessing."""


def header_fields(header_block: bytes) -> list[tuple[str, str]]:
    """Return the fields of *header_block* as (lower-case name, unfolded value) pairs.

    Raises HeaderError for a line that is neither a field nor a continuation.
    """
    fields: list[tuple[str, str]] = []
    for line in header_block.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise HeaderError("continuation line before the first header field")
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip().decode("utf-8", "surrogateescape"))
            continue
        match = _FIELD.match(line)
        if match is None:
            raise HeaderError("header line without a field name and colon")
        value = line[match.end():].strip().decode("utf-8", "surrogateescape")
        fields.append((match.group(1).decode("ascii").lower(), value))
    return fields


def author_addresses(header_block: bytes) -> dict[str, list[str]]:
    """Return the addr-specs of every From, Sender, Resent-From and Resent-Sender field.

    Raises HeaderError unless there is exactly one From field (RFC 5322
    section 3.6) and every author field parses without defects.
    """
    fields = header_fields(header_block)
    from_count = sum(1 for name, _ in fields if name == "from")
    if from_count != 1:
        raise HeaderError(f"the message must have exactly one From field, not {from_count}")
    found: dict[str, list[str]] = {}
    for name, value in fields:
        if name not in AUTHOR_FIELDS:
            continue
        header = default_policy.header_factory(name, value)
        addresses = getattr(header, "addresses", ())
        # Obsolete syntax such as "Dr. Rivera <...>" is common and harmless;
        # any other defect means part of the field was not read as an address.
        serious = [d for d in header.defects if not isinstance(d, errors.ObsoleteHeaderDefect)]
        if serious or not addresses or not all(a.username and a.domain for a in addresses):
            raise HeaderError(f"the {name} field is not a valid address list")
        found.setdefault(name, []).extend(a.addr_spec for a in addresses)
    return found
