"""The escrow path with sealed content in an S3 bucket (Swift's S3 API on loopback)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client
from pytest_django.fixtures import Settings

from careseal import cli
from careseal.config import S3Config, StorageConfig, load_storage
from careseal.escrow import lifecycle
from careseal.queue import store
from careseal.queue.keys import rotate
from careseal.queue.models import Message
from careseal.queue.vault import blob_store, check_storage, key_ring
from careseal.web import views
from tests.portal.conftest import queue_and_escrow, sign_in
from tests.support.s3 import SwiftS3
from tests.support.sinks import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def s3_storage(settings: Settings, s3_config: S3Config) -> Iterator[None]:
    settings.CARESEAL = dataclasses.replace(settings.CARESEAL, storage=StorageConfig(
        url=f"s3://{s3_config.bucket}/{s3_config.prefix}", path=None, min_free_bytes=0, s3=s3_config))
    blob_store.cache_clear()
    yield
    blob_store.cache_clear()


def submitted() -> Message:
    return Message.objects.get(kind=Message.Kind.SUBMITTED)


def test_escrowed_message_sealed_in_bucket(
        swift: SwiftS3, bucket: str, client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)

    page = client.get(f"/messages/{pickup.escrow_id}")
    attachment = client.get(f"/messages/{pickup.escrow_id}/attachments/2")

    queue_id = submitted().id
    objects = swift.objects(bucket, prefix="sealed/")
    assert f"sealed/{queue_id}" in objects
    for blob in objects.values():
        assert b"HbA1c" not in blob
        assert b"Lab results" not in blob
    assert list(settings.CARESEAL.data_dir.rglob(queue_id)) == []
    assert page.status_code == 200
    assert "Your HbA1c is 6.1%." in page.content.decode()
    assert attachment.status_code == 200
    assert b"".join(attachment.streaming_content) == b"%PDF-1.4\n"  # type: ignore[arg-type]


def test_recall_deletes_object(swift: SwiftS3, bucket: str, lab_message: bytes) -> None:
    queue_and_escrow(lab_message)
    message = submitted()

    lifecycle.recall(message.id)

    assert f"sealed/{message.id}" not in swift.objects(bucket, prefix="sealed/")


def test_key_rotation_keeps_objects(swift: SwiftS3, bucket: str, lab_message: bytes) -> None:
    queue_and_escrow(lab_message)
    before = swift.objects(bucket, prefix="sealed/")
    old_id = submitted().key_id

    rotate()
    (settings.CARESEAL.keys_dir / f"{old_id}.key").unlink()
    key_ring.cache_clear()

    assert swift.objects(bucket, prefix="sealed/") == before
    assert store.content(submitted()) == lab_message


def test_storage_probe_cleans_up(swift: SwiftS3, bucket: str) -> None:
    check_storage()

    assert swift.objects(bucket) == {}


def test_storage_copy_moves_blobs(swift: SwiftS3, bucket: str, settings: Settings, client: Client,
                                        lab_message: bytes, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CARESEAL_CONFIG", str(settings.CARESEAL.path))
    on_s3 = settings.CARESEAL.storage
    local = load_storage(settings.CARESEAL.path)
    settings.CARESEAL = dataclasses.replace(settings.CARESEAL, storage=local)
    blob_store.cache_clear()
    pickup = queue_and_escrow(lab_message)
    recalled = queue_and_escrow(lab_message.replace(b"<orig-1@", b"<orig-2@"))
    lifecycle.recall(Message.objects.get(escrows__id=recalled.escrow_id).id)
    needed = sorted(Message.objects.filter(content_removed_at__isnull=True).values_list("id", flat=True))
    settings.CARESEAL = dataclasses.replace(settings.CARESEAL, storage=on_s3)
    blob_store.cache_clear()

    first = cli.main(["storage", "copy", "--from-config", str(settings.CARESEAL.path)])
    first_out = capsys.readouterr().out
    second = cli.main(["storage", "copy", "--from-config", str(settings.CARESEAL.path)])
    second_out = capsys.readouterr().out
    copied = sorted(swift.objects(bucket, prefix="sealed/"))
    sign_in(client, pickup)
    page = client.get(f"/messages/{pickup.escrow_id}")

    assert first == 0
    assert f"Copied {len(needed)} blobs to s3://{bucket}/sealed; 0 were already there." in first_out
    assert second == 0
    assert f"Copied 0 blobs to s3://{bucket}/sealed; {len(needed)} were already there." in second_out
    assert copied == [f"sealed/{name}" for name in needed]
    assert "Your HbA1c is 6.1%." in page.content.decode()


def test_storage_copy_reports_lost(swift: SwiftS3, bucket: str, settings: Settings, lab_message: bytes,
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CARESEAL_CONFIG", str(settings.CARESEAL.path))
    on_s3 = settings.CARESEAL.storage
    settings.CARESEAL = dataclasses.replace(settings.CARESEAL, storage=load_storage(settings.CARESEAL.path))
    blob_store.cache_clear()
    queue_and_escrow(lab_message)
    lost = submitted().id
    blob_store().delete(lost)
    settings.CARESEAL = dataclasses.replace(settings.CARESEAL, storage=on_s3)
    blob_store.cache_clear()

    status = cli.main(["storage", "copy", "--from-config", str(settings.CARESEAL.path)])

    assert status == 1
    assert f"missing from both: {lost}" in capsys.readouterr().err


def test_storage_copy_same_rejected(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CARESEAL_CONFIG", str(settings.CARESEAL.path))
    settings.CARESEAL = dataclasses.replace(settings.CARESEAL, storage=load_storage(settings.CARESEAL.path))

    status = cli.main(["storage", "copy", "--from-config", str(settings.CARESEAL.path)])

    assert status == 2
    assert "name the same storage" in capsys.readouterr().err


def unreachable(settings: Settings) -> None:
    """Point the blob store at a loopback port where nothing listens, as when the S3 service is down."""
    s3 = dataclasses.replace(settings.CARESEAL.storage.s3, endpoint_url=f"https://127.0.0.1:{free_port()}")
    settings.CARESEAL = dataclasses.replace(
        settings.CARESEAL, storage=dataclasses.replace(settings.CARESEAL.storage, s3=s3))
    blob_store.cache_clear()


def test_storage_outage_page_asks_to_retry(settings: Settings, client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)
    working = settings.CARESEAL

    unreachable(settings)
    during = client.get(f"/messages/{pickup.escrow_id}")
    settings.CARESEAL = working
    blob_store.cache_clear()
    after = client.get(f"/messages/{pickup.escrow_id}")

    assert during.status_code == 503
    assert during["Retry-After"] == "60"
    assert "Your message is safe; nothing has been lost." in during.content.decode()
    assert "HbA1c" not in during.content.decode()
    assert after.status_code == 200


def test_reply_kept_when_storage_down(settings: Settings, client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)

    unreachable(settings)
    response = client.post(f"/messages/{pickup.escrow_id}/reply", {"body": "See you on Tuesday."})

    assert response.status_code == 503
    assert "could not be sent" in response.content.decode()
    assert "See you on Tuesday." in response.content.decode()
    assert Message.objects.filter(kind=Message.Kind.PORTAL).count() == 0


def test_healthz_checks_bucket(settings: Settings, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "_storage_checked", (-views.STORAGE_CHECK_INTERVAL, ""))
    working = client.get("/healthz")
    monkeypatch.setattr(views, "_storage_checked", (-views.STORAGE_CHECK_INTERVAL, ""))
    unreachable(settings)

    down = client.get("/healthz")

    assert working.json()["storage"] == "ok"
    assert down.status_code == 503
    assert down.json()["storage"] == "unreachable"


def test_recall_during_outage_removes_content_later(swift: SwiftS3, bucket: str, settings: Settings,
                                                    lab_message: bytes) -> None:
    queue_and_escrow(lab_message)
    message = submitted()
    working = settings.CARESEAL

    unreachable(settings)
    lifecycle.recall(message.id)
    message.refresh_from_db()
    during = message.content_removed_at
    settings.CARESEAL = working
    blob_store.cache_clear()
    still_there = f"sealed/{message.id}" in swift.objects(bucket, prefix="sealed/")
    lifecycle.housekeeping()
    message.refresh_from_db()

    assert during is None
    assert still_there
    assert message.content_removed_at is not None
    assert f"sealed/{message.id}" not in swift.objects(bucket, prefix="sealed/")
