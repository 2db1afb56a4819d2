"""The reply notice's secure-reply link, for messages delivered by TLS."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re

import pytest
from django.test import Client

from careseal.queue import leases, store
from careseal.queue.models import Message
from careseal.replies.service import tracked_content
from tests.portal.conftest import CLINICIAN, PATIENT, latest_code

pytestmark = pytest.mark.django_db(transaction=True)


def delivered_copy(raw: bytes) -> bytes:
    store.accept(store.Submission(content=raw, envelope_sender=CLINICIAN, recipients=[PATIENT],
                                  message_id="<orig-1@clinic.test>", policy="verified-tls"))
    delivery = leases.claim("w", 1, dt.timedelta(minutes=5))[0]
    return tracked_content(delivery, store.content(delivery.message))


def test_delivered_copy_has_notice_and_reply_to(lab_message: bytes) -> None:
    parsed = email.message_from_bytes(delivered_copy(lab_message), policy=email.policy.default)

    notice = list(parsed.iter_parts())[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    reply_to = parsed["Reply-To"].addresses[0].addr_spec
    assert "Replies by email may not be private." in notice
    assert re.search(r"/r/[a-z2-7]{32}", notice)
    assert reply_to.startswith("reply+")
    assert reply_to.split("+")[1].split("@")[0] in notice


def test_secure_reply_link_needs_code_then_sends(client: Client, lab_message: bytes) -> None:
    copy = delivered_copy(lab_message).decode("utf-8", "replace")
    path = re.search(r"/r/[a-z2-7]{32}", copy).group(0)  # type: ignore[union-attr]

    first = client.get(path)
    client.post("/pickup/code")
    verified = client.post("/verify", {"code": latest_code()})
    sent = client.post(verified["Location"], {"body": "Thank you."})

    reply = Message.objects.get(kind=Message.Kind.PORTAL)
    parsed = email.message_from_bytes(store.content(reply), policy=email.policy.default)
    assert first["Location"] == "/pickup"
    assert first["Referrer-Policy"] == "no-referrer"
    assert verified["Location"].startswith("/reply/")
    assert sent.status_code == 302
    assert list(reply.deliveries.values_list("recipient", "policy")) == [(CLINICIAN, "verified-tls")]
    assert parsed["In-Reply-To"] == "<orig-1@clinic.test>"


def test_secure_reply_other_patient_refused(client: Client, lab_message: bytes) -> None:
    delivered_copy(lab_message)
    delivery_id = Message.objects.get().deliveries.get().pk
    client.post("/sign-in", {"address": "other@patient.test"})
    client.post("/pickup/code")
    client.post("/verify", {"code": latest_code()})

    assert client.get(f"/reply/{delivery_id}").status_code == 404
