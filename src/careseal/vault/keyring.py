"""Key-encryption keys (KEKs), kept in files outside the database.

Each KEK is 32 random bytes, base64-encoded in ``DIR/kek-<id>.key`` with mode
0600; ``DIR/active`` names the KEK that wraps new data keys. Older KEKs stay
in the folder so data keys wrapped by them can still be unwrapped, which is
what lets keys rotate without re-encrypting message bodies.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

KEY_BYTES = 32
_KEY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class KeyRingError(Exception):
    """A missing, unreadable or malformed key-encryption key."""


@dataclass(frozen=True)
class KeyRing:
    """The loaded KEKs by id, and the id of the one used for new data keys."""

    active_id: str
    keys: dict[str, bytes] = field(repr=False)

    def key(self, key_id: str) -> bytes:
        """Return the KEK *key_id*; raise :class:`KeyRingError` if this ring lacks it."""
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyRingError(f"key-encryption key {key_id!r} not found in the key ring") from None


def create_key(directory: Path, *, activate: bool = True) -> str:
    """Write a new random KEK to *directory*, make it active if asked, and return its id."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_id = "kek-" + secrets.token_hex(4)
    path = directory / f"{key_id}.key"
    _write_private(path, base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n")
    if activate:
        _write_private(directory / "active", key_id.encode("ascii") + b"\n")
    return key_id


def load(directory: Path) -> KeyRing:
    """Load every KEK in *directory*; raise :class:`KeyRingError` if none is usable."""
    if not directory.is_dir():
        raise KeyRingError(f"key folder not found: {directory} (create one with 'careseal init')")
    keys: dict[str, bytes] = {}
    for path in sorted(directory.glob("kek-*.key")):
        key_id = path.name.removesuffix(".key")
        if not _KEY_ID.match(key_id):
            raise KeyRingError(f"invalid key file name: {path.name}")
        try:
            key = base64.b64decode(path.read_bytes().strip(), validate=True)
        except ValueError:
            raise KeyRingError(f"key file is not valid base64: {path}") from None
        if len(key) != KEY_BYTES:
            raise KeyRingError(f"key file contains {len(key)} bytes, expected {KEY_BYTES}: {path}")
        keys[key_id] = key

    active_path = directory / "active"
    if not active_path.exists():
        raise KeyRingError(f"no active key: {active_path} is missing")
    active_id = active_path.read_text(encoding="ascii").strip()
    if active_id not in keys:
        raise KeyRingError(f"active key {active_id!r} has no key file in {directory}")
    return KeyRing(active_id=active_id, keys=keys)


def _write_private(path: Path, data: bytes) -> None:
    """Write *data* to *path* readable by the owner only, durably and atomically."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
