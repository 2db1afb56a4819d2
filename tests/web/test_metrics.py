"""Prometheus metrics and the health check."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from careseal.queue import store
from careseal.queue.vault import blob_store
from careseal.web import views

pytestmark = pytest.mark.django_db(transaction=True)


def test_metrics_count_queue(client: Client) -> None:
    store.accept(store.Submission(content=b"Subject: s\r\n\r\nb\r\n", envelope_sender="a@clinic.test",
                                  recipients=["p1@patient.test", "p2@patient.test"]))

    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()

    assert 'careseal_messages_accepted_total{kind="submitted"} 1' in body
    assert "careseal_queue_depth 2" in body
    assert 'careseal_deliveries{policy="verified-tls",status="queued"} 2' in body
    assert 'careseal_portal_events_total{event="sign_in"} 0' in body


def test_metrics_refused_off_loopback(client: Client) -> None:
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.10").status_code == 403


def test_healthz_reports_ok(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["keys"] == "ok"


@pytest.fixture
def fresh_storage_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "_storage_checked", (-views.STORAGE_CHECK_INTERVAL, ""))
    blob_store.cache_clear()


def test_healthz_reports_storage(client: Client, fresh_storage_check: None) -> None:
    assert client.get("/healthz").json()["storage"] == "ok"


def test_healthz_fails_without_blob_folder(client: Client, fresh_storage_check: None, settings: Any,
                                           tmp_path: Path) -> None:
    blocker = tmp_path / "blobs"
    blocker.write_text("a file where the blob folder should be")
    settings.CARESEAL = dataclasses.replace(settings.CARESEAL, storage=dataclasses.replace(
        settings.CARESEAL.storage, path=blocker))

    response = client.get("/healthz")
    blob_store.cache_clear()

    assert response.status_code == 503
    assert response.json()["storage"] == "unreachable"
