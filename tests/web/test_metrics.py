import pytest
from django.test import Client

from careseal.queue import store

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
