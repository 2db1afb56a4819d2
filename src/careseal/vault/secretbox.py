"""Small secrets sealed for storage in the database, under a key derived from the instance secret.

A sealed value is ``v1.`` followed by the URL-safe base64 of a 12-byte
nonce and the AES-256-GCM ciphertext. The caller's context (a row's
identity) is bound in as associated data, so a value copied to another
row does not open there. The instance secret lives in the keys folder,
apart from database backups, so a stolen backup alone reveals nothing.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1."
_NONCE_SIZE = 12


class SealError(ValueError):
    """A sealed value is malformed, was altered, or was sealed under another key or context."""


def derive_key(instance_secret: str, purpose: str) -> bytes:
    """Return a 32-byte key for *purpose*, derived from *instance_secret* with HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"careseal/{purpose}".encode()).derive(instance_secret.encode())


def seal_text(key: bytes, text: str, context: str) -> str:
    """Return *text* sealed under *key*, bound to *context*, with a fresh random nonce."""
    nonce = os.urandom(_NONCE_SIZE)
    ciphertext = AESGCM(key).encrypt(nonce, text.encode(), context.encode())
    return _VERSION + base64.urlsafe_b64encode(nonce + ciphertext).decode()


def open_text(key: bytes, sealed: str, context: str) -> str:
    """Return the text sealed in *sealed*; raise :class:`SealError` if it cannot be opened."""
    if not sealed.startswith(_VERSION):
        raise SealError("not a sealed value")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(_VERSION):].encode())
        plain = AESGCM(key).decrypt(raw[:_NONCE_SIZE], raw[_NONCE_SIZE:], context.encode())
    except (ValueError, InvalidTag):
        raise SealError("sealed value altered, or sealed under another key or context") from None
    return plain.decode()
