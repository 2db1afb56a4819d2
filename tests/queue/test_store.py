"""Durable accept: a message is wholly stored and visible, or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import IntegrityError

from careseal.queue import store
from careseal.queue.models import Delivery, Message
from careseal.queue.vault import blob_store
from careseal.vault.blobstore import StorageFull

pytestmark = pytest.mark.django_db(transaction=True)

CONTENT = b"From: a@clinic.test\r\nSubject: s\r\n\r\nbody\r\n"


def submission(**changes: object) -> store.Submission:
    values: dict[str, object] = {"content": CONTENT, "envelope_sender": "a@clinic.test",
                                 "recipients": ["p1@patient.test", "p2@patient.test"]}
    values.update(changes)
    return store.Submission(**values)  # type: ignore[arg-type]


def blob_files() -> list[Path]:
    return [p for p in blob_store().root.rglob("*") if p.is_file()]


def test_accept_creates_one_delivery_per_recipient() -> None:
    message = store.accept(submission())

    recipients = list(Delivery.objects.filter(message=message).values_list("recipient", flat=True))
    assert recipients == ["p1@patient.test", "p2@patient.test"]


def test_accept_stores_content_encrypted() -> None:
    message = store.accept(submission())

    blob = blob_store().get(message.id)
    assert b"body" not in blob
    assert blob.startswith(b"CSB1")
    assert store.content(message) == CONTENT


def test_storage_full_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    before = len(blob_files())
    monkeypatch.setattr(blob_store(), "min_free_bytes", 1 << 60)

    with pytest.raises(StorageFull):
        store.accept(submission())

    assert Message.objects.count() == 0
    assert len(blob_files()) == before


def test_database_failure_removes_blob() -> None:
    store.accept(submission(queue_id="aaaaaaaaaaaaaaaaaaaa"))
    before = len(blob_files())

    with pytest.raises(IntegrityError):
        # A NULL recipient: the blob is written, then the delivery insert fails.
        store.accept(submission(queue_id="aaaaaaaaaaaaaaaaaaab", recipients=[None]))

    assert Message.objects.filter(pk="aaaaaaaaaaaaaaaaaaab").count() == 0
    assert len(blob_files()) == before
