"""Envelope encryption of stored messages with AES-256-GCM.

Every object gets its own random 256-bit data key. The data key encrypts the
content; the active key-encryption key (KEK) wraps the data key. The wrapped
key and the KEK id live in the database row, the ciphertext in blob storage,
so rotating a KEK re-wraps rows and never touches message bodies.

Blob format, version 1::

    b"CSB1" | nonce (12 bytes) | AES-256-GCM ciphertext and tag

Wrapped-key format, version 1::

    b"CSK1" | nonce (12 bytes) | AES-256-GCM(KEK) of the data key and tag

Both use associated data that binds the ciphertext to the object id (and the
wrapped key also to its KEK id), so a blob or a wrapped key copied onto
another row fails to decrypt instead of showing the wrong message.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from careseal.vault.keyring import KeyRing

BLOB_MAGIC = b"CSB1"
WRAP_MAGIC = b"CSK1"
NONCE_BYTES = 12


def sealed_size(plain_size: int) -> int:
    """Return the size of the blob :func:`seal` makes from *plain_size* bytes: magic, nonce, text and tag."""
    return len(BLOB_MAGIC) + NONCE_BYTES + plain_size + 16


class DecryptionError(Exception):
    """A blob or wrapped key that is malformed, tampered with or bound to another object."""


@dataclass(frozen=True)
class Sealed:
    """The result of sealing one object: what goes to blob storage and to the row."""

    blob: bytes
    key_id: str
    wrapped_key: bytes


def seal(ring: KeyRing, object_id: str, plaintext: bytes) -> Sealed:
    """Encrypt *plaintext* under a new data key wrapped by the ring's active KEK."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _blob_aad(object_id))
    return Sealed(
        blob=BLOB_MAGIC + nonce + ciphertext,
        key_id=ring.active_id,
        wrapped_key=wrap_key(ring, ring.active_id, object_id, data_key),
    )


def open_sealed(ring: KeyRing, object_id: str, blob: bytes, key_id: str, wrapped_key: bytes) -> bytes:
    """Decrypt a blob sealed by :func:`seal`; raise :class:`DecryptionError` on any mismatch."""
    data_key = unwrap_key(ring, key_id, object_id, wrapped_key)
    if not blob.startswith(BLOB_MAGIC) or len(blob) < len(BLOB_MAGIC) + NONCE_BYTES + 16:
        raise DecryptionError(f"blob of object {object_id} has an unknown format")
    nonce = blob[len(BLOB_MAGIC):len(BLOB_MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(data_key).decrypt(nonce, blob[len(BLOB_MAGIC) + NONCE_BYTES:], _blob_aad(object_id))
    except InvalidTag:
        raise DecryptionError(f"blob of object {object_id} failed authentication") from None


def wrap_key(ring: KeyRing, key_id: str, object_id: str, data_key: bytes) -> bytes:
    """Wrap *data_key* with the KEK *key_id*, bound to *object_id*."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return WRAP_MAGIC + nonce + AESGCM(ring.key(key_id)).encrypt(nonce, data_key, _wrap_aad(key_id, object_id))


def unwrap_key(ring: KeyRing, key_id: str, object_id: str, wrapped_key: bytes) -> bytes:
    """Recover a data key wrapped by :func:`wrap_key`."""
    if not wrapped_key.startswith(WRAP_MAGIC):
        raise DecryptionError(f"wrapped key of object {object_id} has an unknown format")
    nonce = wrapped_key[len(WRAP_MAGIC):len(WRAP_MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(ring.key(key_id)).decrypt(
            nonce, wrapped_key[len(WRAP_MAGIC) + NONCE_BYTES:], _wrap_aad(key_id, object_id))
    except InvalidTag:
        raise DecryptionError(f"wrapped key of object {object_id} failed authentication") from None


def _blob_aad(object_id: str) -> bytes:
    return b"careseal/blob/v1/" + object_id.encode("ascii")


def _wrap_aad(key_id: str, object_id: str) -> bytes:
    return b"careseal/key/v1/" + key_id.encode("ascii") + b"/" + object_id.encode("ascii")
