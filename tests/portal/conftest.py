from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest
from django.test import Client

from careseal.escrow.service import open_escrow
from careseal.queue import leases, store
from careseal.queue.models import Delivery, Message
from careseal.queue.vault import hash_access_code

PATIENT = "pat@patient.test"
CLINICIAN = "dr.rivera@clinic.test"


@dataclass
class Pickup:
    escrow_id: str
    token: str
    link: str


def queue_and_escrow(raw: bytes, recipient: str = PATIENT, access_code: str = "") -> Pickup:
    """Accept *raw* for *recipient* under the escrow policy, escrow it, and return the pickup link."""
    message = store.accept(store.Submission(
        content=raw, envelope_sender=CLINICIAN, recipients=[recipient], message_id="<orig-1@clinic.test>",
        policy="escrow", access_code_hash=hash_access_code(access_code) if access_code else ""))
    claimed = leases.claim("test-worker", 100, dt.timedelta(minutes=5))
    delivery = next(row for row in claimed if row.message_id == message.id)
    leases.release("test-worker", [row.pk for row in claimed if row.pk != delivery.pk])
    escrow = open_escrow(delivery, "policy escrow", "test-worker")
    assert escrow is not None
    notice_delivery = Delivery.objects.filter(message__kind=Message.Kind.NOTICE, recipient=recipient).latest("id")
    notice = store.content(notice_delivery.message)
    match = re.search(rb"https?://[^/\s]+/p/([A-Za-z0-9_-]+)", notice)
    assert match is not None
    token = match.group(1).decode()
    return Pickup(escrow.id, token, f"/p/{token}")


def latest_code() -> str:
    mail = store.content(Message.objects.filter(kind=Message.Kind.CODE).latest("created_at"))
    match = re.search(rb"\b(\d{6})\b", mail)
    assert match is not None
    return match.group(1).decode()


def sign_in(client: Client, pickup: Pickup) -> None:
    client.get(pickup.link)
    client.post("/pickup/code")
    response = client.post("/verify", {"code": latest_code()})
    assert response.status_code == 302


@pytest.fixture
def lab_message() -> bytes:
    return (b"From: Dr. Rivera <dr.rivera@clinic.test>\r\nTo: pat@patient.test\r\nSubject: Lab results: HbA1c\r\n"
            b"Message-ID: <orig-1@clinic.test>\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour HbA1c is 6.1%.\r\n"
            b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p onclick=\"x()\">Your <b>HbA1c</b> is 6.1%."
            b"<img src=\"https://tracker.example.test/p.gif\"><script>alert(1)</script></p>\r\n"
            b"--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
            b"filename=\"../../results.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n")
