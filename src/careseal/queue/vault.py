"""The instance's key ring and blob store, built once per process from the configuration."""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from django.conf import settings

from careseal.mail.addresses import address_hash
from careseal.vault import keyring
from careseal.vault.blobstore import LocalBlobStore


@cache
def key_ring() -> keyring.KeyRing:
    return keyring.load(settings.CARESEAL.keys_dir)


@cache
def blob_store() -> LocalBlobStore:
    storage = settings.CARESEAL.storage
    storage.path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return LocalBlobStore(storage.path, storage.min_free_bytes)


@cache
def _log_key() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"careseal/log-address-hash", hashlib.sha256).digest()


def loggable(address: str) -> str:
    """Return the instance-keyed hash that stands for *address* in logs."""
    return address_hash(address, _log_key())
