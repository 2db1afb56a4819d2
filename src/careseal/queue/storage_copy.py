"""Copy sealed blobs from one store to another, for moving an instance to new storage.

The operator points the configuration at the new storage and copies from
the old one before starting the gateway. Blobs stay sealed throughout.
Every copy is read back before it counts, an existing blob that differs
is left alone and reported, and running the copy again only fills gaps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from careseal.audit import trail as audit
from careseal.consent.models import Consent
from careseal.queue.models import Message
from careseal.vault.blobstore import BlobNotFound, BlobStore, StorageError

log = logging.getLogger("careseal.storage")


@dataclass
class CopyReport:
    """Counts of one copy run, and the names of blobs that need an operator's look."""

    copied: int = 0
    present: int = 0
    missing: list[str] = field(default_factory=list)  # in neither store
    conflicting: list[str] = field(default_factory=list)  # different bytes in the two stores

    @property
    def complete(self) -> bool:
        return not self.missing and not self.conflicting


def needed_blobs() -> Iterator[str]:
    """Yield the name of every blob the database still refers to."""
    yield from Message.objects.filter(content_removed_at__isnull=True).order_by("created_at").values_list(
        "id", flat=True).iterator()
    yield from Consent.objects.exclude(form_blob="").values_list("form_blob", flat=True).iterator()


def copy_blobs(source: BlobStore, target: BlobStore, names: Iterator[str]) -> CopyReport:
    """Copy each named blob from *source* to *target*; raise StorageError if either store fails."""
    report = CopyReport()
    for name in names:
        existing = _get_or_none(target, name)
        data = _get_or_none(source, name)
        if data is None:
            if existing is None:
                log.error("blob missing from both stores name=%s", name)
                report.missing.append(name)
            else:
                report.present += 1
            continue
        if existing is not None:
            if existing == data:
                report.present += 1
            else:
                log.error("blob differs between the stores, left as it is name=%s", name)
                report.conflicting.append(name)
            continue
        target.put(name, data)
        if target.get(name) != data:
            raise StorageError(f"blob {name} read back differently from the new storage")
        report.copied += 1
    audit.record("storage.copied", data={"copied": report.copied, "present": report.present,
                                         "missing": len(report.missing), "conflicting": len(report.conflicting)})
    return report


def _get_or_none(store: BlobStore, name: str) -> bytes | None:
    """Return the blob, or None where the store has no such blob; raise StorageError on other faults."""
    try:
        return store.get(name)
    except BlobNotFound:
        return None
