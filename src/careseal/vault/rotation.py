"""Re-wrap stored data keys under a new key-encryption key, leaving ciphertext alone."""

from __future__ import annotations

from dataclasses import dataclass

from careseal.vault import envelope
from careseal.vault.keyring import KeyRing


@dataclass(frozen=True)
class WrappedKey:
    """A data key as stored with its object."""

    object_id: str
    key_id: str
    wrapped_key: bytes


def rewrap(ring: KeyRing, item: WrappedKey) -> WrappedKey:
    """Return *item*'s data key wrapped by the ring's active KEK; raise DecryptionError if it cannot be opened."""
    if item.key_id == ring.active_id:
        return item
    data_key = envelope.unwrap_key(ring, item.key_id, item.object_id, item.wrapped_key)
    return WrappedKey(item.object_id, ring.active_id, envelope.wrap_key(ring, ring.active_id, item.object_id, data_key))
