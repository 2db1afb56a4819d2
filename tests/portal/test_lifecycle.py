"""Recall, expiry, reminders, extension, first-open notice and key rotation."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from careseal.escrow import lifecycle
from careseal.escrow.models import Escrow
from careseal.queue import store
from careseal.queue.keys import rotate
from careseal.queue.models import Delivery, Message
from careseal.queue.vault import blob_store, key_ring
from careseal.vault.blobstore import StorageError
from tests.portal.conftest import PATIENT, queue_and_escrow, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def submitted() -> Message:
    return Message.objects.get(kind=Message.Kind.SUBMITTED)


def test_recalled_message_refused(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)

    changed = lifecycle.recall(submitted().id)
    response = client.get(f"/messages/{pickup.escrow_id}")

    assert changed == 1
    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()


def test_recalled_link_refused(lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    lifecycle.recall(submitted().id)

    assert Client().get(pickup.link).status_code == 410


def test_recall_removes_content(lab_message: bytes) -> None:
    queue_and_escrow(lab_message)
    message = submitted()

    lifecycle.recall(message.id)

    message.refresh_from_db()
    assert message.content_removed_at is not None
    with pytest.raises(StorageError):
        blob_store().get(message.id)


def test_housekeeping_expires_due_escrow(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)

    result = lifecycle.housekeeping(timezone.now() + dt.timedelta(days=31))

    assert result["expired"] == 1
    assert Escrow.objects.get(pk=pickup.escrow_id).status == Escrow.Status.EXPIRED
    assert client.get(f"/messages/{pickup.escrow_id}").status_code == 410


def test_reminder_sent_once_before_expiry(lab_message: bytes) -> None:
    queue_and_escrow(lab_message)
    soon = timezone.now() + dt.timedelta(days=28)

    first = lifecycle.housekeeping(soon)
    second = lifecycle.housekeeping(soon)

    reminders = [m for m in Message.objects.filter(kind=Message.Kind.NOTICE) if b"Reminder:" in store.content(m)]
    assert first["reminded"] == 1
    assert second["reminded"] == 0
    assert len(reminders) == 1
    assert b"HbA1c" not in store.content(reminders[0])


def test_opened_message_gets_no_reminder(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)
    client.get(f"/messages/{pickup.escrow_id}")

    assert lifecycle.housekeeping(timezone.now() + dt.timedelta(days=28))["reminded"] == 0


def test_extend_moves_expiry(lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    before = Escrow.objects.get(pk=pickup.escrow_id).expires_at

    lifecycle.extend(submitted().id, 10)

    assert Escrow.objects.get(pk=pickup.escrow_id).expires_at == before + dt.timedelta(days=10)


def test_first_open_notifies_sender_when_configured(client: Client, lab_message: bytes,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = settings.CARESEAL
    monkeypatch.setattr(settings, "CARESEAL", dataclasses.replace(
        config, escrow=dataclasses.replace(config.escrow, notify_sender_on_open=True)))
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)

    client.get(f"/messages/{pickup.escrow_id}")
    client.get(f"/messages/{pickup.escrow_id}")

    notes = [m for m in Message.objects.filter(kind=Message.Kind.NOTICE) if b"was opened" in store.content(m)]
    assert len(notes) == 1
    content = store.content(notes[0])
    assert PATIENT.encode() not in content
    assert b"HbA1c" not in content
    assert list(notes[0].deliveries.values_list("recipient", "policy")) == [("dr.rivera@clinic.test", "verified-tls")]


def test_key_rotation_keeps_messages_readable(lab_message: bytes) -> None:
    queue_and_escrow(lab_message)
    old_id = submitted().key_id

    new_id, count = rotate()
    (settings.CARESEAL.keys_dir / f"{old_id}.key").unlink()
    key_ring.cache_clear()

    assert new_id != old_id
    assert count == Message.objects.count()
    assert set(Message.objects.values_list("key_id", flat=True)) == {new_id}
    assert store.content(submitted()) == lab_message


def finished(queue_id: str, days_ago: int) -> None:
    when = timezone.now() - dt.timedelta(days=days_ago)
    Message.objects.filter(pk=queue_id).update(created_at=when)
    Delivery.objects.filter(message_id=queue_id).update(status=Delivery.Status.DELIVERED, finished_at=when)


def test_housekeeping_removes_old_finished_content() -> None:
    old = store.accept(store.Submission(content=b"Subject: s\r\n\r\nold\r\n", envelope_sender="a@clinic.test",
                                        recipients=["p@patient.test"]))
    recent = store.accept(store.Submission(content=b"Subject: s\r\n\r\nnew\r\n", envelope_sender="a@clinic.test",
                                           recipients=["p@patient.test"]))
    waiting = store.accept(store.Submission(content=b"Subject: s\r\n\r\nwait\r\n", envelope_sender="a@clinic.test",
                                            recipients=["p@patient.test"]))
    finished(old.id, 31)
    finished(recent.id, 29)
    Message.objects.filter(pk=waiting.id).update(created_at=timezone.now() - dt.timedelta(days=31))

    lifecycle.housekeeping()

    removed = dict(Message.objects.values_list("id", "content_removed_at"))
    assert removed[old.id] is not None
    assert removed[recent.id] is None
    assert removed[waiting.id] is None
    assert not blob_store().exists(old.id)
    assert blob_store().exists(recent.id)


def test_opened_escrow_keeps_content_past_retention(lab_message: bytes) -> None:
    queue_and_escrow(lab_message)
    message = submitted()
    finished(message.id, 40)

    lifecycle.housekeeping()

    message.refresh_from_db()
    assert message.content_removed_at is None
