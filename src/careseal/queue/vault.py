"""The instance's key ring and blob store, built once per process from the configuration."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from functools import cache

from django.conf import settings

from careseal.config import StorageConfig
from careseal.mail.addresses import address_hash
from careseal.vault import keyring
from careseal.vault.blobstore import BlobStore, LocalBlobStore, StorageError

log = logging.getLogger("careseal.storage")


@cache
def key_ring() -> keyring.KeyRing:
    return keyring.load(settings.CARESEAL.keys_dir)


@cache
def blob_store() -> BlobStore:
    """Return the configured blob store, creating a local one's folder; raise StorageError if that fails."""
    return open_store(settings.CARESEAL.storage)


def open_store(storage: StorageConfig) -> BlobStore:
    """Return the blob store that *storage* describes, creating a local one's folder."""
    if storage.s3 is not None:
        from careseal.vault.s3 import S3BlobStore

        return S3BlobStore(storage.s3)
    assert storage.path is not None
    try:
        storage.path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise StorageError(f"cannot create blob folder {storage.path}: {error.strerror}") from None
    return LocalBlobStore(storage.path, storage.min_free_bytes)


def check_storage() -> None:
    """Write, read back and remove a probe blob; raise StorageError or StorageFull on failure."""
    store = blob_store()
    name = "probe-" + secrets.token_hex(8)
    store.put(name, b"probe")
    if store.get(name) != b"probe":
        raise StorageError(f"probe blob read back differently from {settings.CARESEAL.storage.url}")
    store.delete(name)


def check_storage_at_start(role: str, sample: int = 3) -> bool:
    """Log the storage in use and check that it responds; warn if the newest messages' content is not there.

    A missing blob among the newest messages usually means [storage] was
    changed without copying the old content. Return False if the store
    cannot be reached, so the role does not start.
    """
    from careseal.queue.models import Message

    storage = settings.CARESEAL.storage
    try:
        store = blob_store()
        store.check_reachable()
        newest = Message.objects.filter(content_removed_at__isnull=True).order_by("-created_at")[:sample]
        missing = [queue_id for queue_id in newest.values_list("id", flat=True) if not store.exists(queue_id)]
    except StorageError as error:
        log.error("storage check failed (storage.url) role=%s: %s", role, error)
        return False
    log.info("storage role=%s url=%s", role, storage.url)
    if missing:
        log.error("the content of %d of the %d newest messages is not in %s (queue ids %s); if [storage] was "
                  "changed, copy the old content with 'careseal storage copy --from-config OLD.toml'",
                  len(missing), sample, storage.url, ",".join(missing))
    return True


@cache
def _log_key() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"careseal/log-address-hash", hashlib.sha256).digest()


def loggable(address: str) -> str:
    """Return the instance-keyed hash that stands for *address* in logs."""
    return address_hash(address, _log_key())


def hash_access_code(code: str) -> str:
    """Return the stored form of a sender's access code, keyed by this instance's secret."""
    from careseal.mail.access_code import access_code_hash

    key = hmac.new(settings.SECRET_KEY.encode(), b"careseal/access-code", hashlib.sha256).digest()
    return access_code_hash(code, key)
