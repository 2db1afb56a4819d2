"""Mail address helpers: envelope address checks, domains and log-safe hashes."""

from __future__ import annotations

import hashlib
import hmac
import re

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_STRING = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def mailbox_problem(address: str, *, utf8: bool = False) -> str | None:
    """Return why *address* is not an acceptable RFC 5321 Mailbox, or None if it is.

    Accepted: a dot-atom local part and a domain name; with *utf8*
    (SMTPUTF8, RFC 6531) non-ASCII characters too. Quoted local parts and
    address literals are valid SMTP but rare, and are refused here because
    they are a common way to smuggle a different address past checks.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "the address needs a local part and a domain"
    if len(address.encode("utf-8")) > 254 or len(local.encode("utf-8")) > 64:
        return "the address is too long"
    if domain.startswith("["):
        return "address literals are not accepted"
    if not address.isascii() and not utf8:
        return "a non-ASCII address needs SMTPUTF8"
    ascii_local = re.sub(r"[^\x00-\x7f]", "a", local)
    ascii_domain = re.sub(r"[^\x00-\x7f]", "a", domain.rstrip("."))
    if not _DOT_STRING.fullmatch(ascii_local):
        return "the local part must be a dot-atom; quoted local parts are not accepted"
    if not _DOMAIN.fullmatch(ascii_domain) or len(domain) > 253:
        return "the domain is not a valid host name"
    return None


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
