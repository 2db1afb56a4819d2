"""``careseal keys rotate``: a new key-encryption key, and every stored data key re-wrapped under it."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from careseal.audit import trail as audit
from careseal.queue.models import Message
from careseal.queue.vault import key_ring
from careseal.vault import keyring
from careseal.vault.rotation import WrappedKey, rewrap

log = logging.getLogger("careseal.keys")

BATCH = 500


def rotate() -> tuple[str, int]:
    """Create and activate a new KEK, re-wrap every message's data key, and return (new id, count).

    Rows are updated in batches, each in its own transaction. A crash part
    way leaves some rows under the old key and some under the new. Both
    keys stay in the folder, so every message can still be read, and
    running the command again finishes the job.
    """
    new_id = keyring.create_key(settings.CARESEAL.keys_dir)
    key_ring.cache_clear()
    ring = key_ring()
    count = 0
    while True:
        with transaction.atomic():
            batch = list(Message.objects.select_for_update().exclude(key_id=new_id)
                         .only("id", "key_id", "wrapped_key")[:BATCH])
            if not batch:
                break
            for message in batch:
                item = rewrap(ring, WrappedKey(message.id, message.key_id, bytes(message.wrapped_key)))
                Message.objects.filter(pk=message.pk).update(key_id=item.key_id, wrapped_key=item.wrapped_key)
            count += len(batch)
    audit.record("keys.rotated", actor="operator", data={"key_id": new_id, "rewrapped": count})
    log.info("key rotated new_key=%s rewrapped=%d", new_id, count)
    return new_id, count
