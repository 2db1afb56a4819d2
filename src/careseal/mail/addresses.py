"""Mail address helpers: domains, header address lists and log-safe hashes."""

from __future__ import annotations

import email.parser
import hashlib
import hmac
from email.headerregistry import Address
from email.policy import default as default_policy


def domain_of(address: str) -> str:
    """Return the lower-case domain of *address* without a trailing dot, or "" if it has none."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return ""
    return domain.strip().lower().rstrip(".")


def address_hash(address: str, key: bytes) -> str:
    """Return a short keyed hash of *address* for logs, stable for one instance.

    A keyed hash, unlike a bare SHA-256, cannot be reversed by hashing a list
    of known patient addresses.
    """
    digest = hmac.new(key, address.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()
    return "a:" + digest[:16]


def header_addresses(raw_headers: bytes, name: str) -> list[str] | None:
    """Return the addr-specs in every *name* header of a message's header block.

    Returns None when a header is present but yields no parsable address, so
    a caller can reject it instead of treating it as absent.
    """
    parser = email.parser.BytesHeaderParser(policy=default_policy)
    message = parser.parsebytes(raw_headers)
    values = message.get_all(name) or []
    found: list[str] = []
    for value in values:
        try:
            addresses: tuple[Address, ...] = value.addresses
        except (AttributeError, ValueError, IndexError):
            return None
        if not addresses or not all(a.username and a.domain for a in addresses):
            return None
        found.extend(a.addr_spec for a in addresses)
    return found
