"""Portal pages when a message's sealed content is missing or was altered in storage."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from careseal.audit.models import AuditEvent
from careseal.escrow.models import Escrow
from careseal.queue.vault import blob_store
from tests.portal.conftest import queue_and_escrow, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def blob_path(queue_id: str):  # type: ignore[no-untyped-def]
    return settings.CARESEAL.storage.path / queue_id[:2] / queue_id


def test_missing_content_page(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)
    blob_store().delete(Escrow.objects.get(pk=pickup.escrow_id).message_id)

    response = client.get(f"/messages/{pickup.escrow_id}")

    assert response.status_code == 500
    assert "This message cannot be shown" in response.content.decode()
    assert "contact the practice" in response.content.decode()


def test_altered_content_page(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)
    path = blob_path(Escrow.objects.get(pk=pickup.escrow_id).message_id)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))

    response = client.get(f"/messages/{pickup.escrow_id}")

    assert response.status_code == 500
    assert "This message cannot be shown" in response.content.decode()
    assert "HbA1c" not in response.content.decode()


def test_inbox_lists_readable_messages(client: Client, lab_message: bytes) -> None:
    lost = queue_and_escrow(lab_message)
    readable = queue_and_escrow(lab_message.replace(b"Lab results: HbA1c", b"Appointment reminder")
                            .replace(b"<orig-1@", b"<orig-2@"))
    sign_in(client, readable)
    blob_store().delete(Escrow.objects.get(pk=lost.escrow_id).message_id)

    response = client.get("/messages/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Appointment reminder" in page
    assert "A message that cannot be shown right now" in page


def test_failed_download_not_audited(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)
    blob_store().delete(Escrow.objects.get(pk=pickup.escrow_id).message_id)

    response = client.get(f"/messages/{pickup.escrow_id}/download")

    assert response.status_code == 500
    assert not AuditEvent.objects.filter(kind="portal.message_downloaded").exists()


def test_grown_blob_not_read(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)
    path = blob_path(Escrow.objects.get(pk=pickup.escrow_id).message_id)
    path.write_bytes(path.read_bytes() + b"\0" * 1_000_000)

    response = client.get(f"/messages/{pickup.escrow_id}")

    assert response.status_code == 500
    assert "This message cannot be shown" in response.content.decode()
