"""The sender's optional access code, given to the patient by phone."""

from __future__ import annotations

import pytest
from django.test import Client

from careseal.mail.access_code import AccessCodeError, take_access_code
from tests.portal.conftest import queue_and_escrow, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_access_code_field_removed() -> None:
    raw = b"From: a@clinic.test\r\nCareSeal-Access-Code: 4821-77\r\nSubject: s\r\n\r\nCareSeal-Access-Code: body\r\n"

    stripped, code = take_access_code(raw)

    assert code == "4821-77"
    assert stripped == b"From: a@clinic.test\r\nSubject: s\r\n\r\nCareSeal-Access-Code: body\r\n"


@pytest.mark.parametrize("field", [b"CareSeal-Access-Code: 12\r\n", b"CareSeal-Access-Code: a b c d\r\n",
                                   b"CareSeal-Access-Code: 1234\r\nCareSeal-Access-Code: 5678\r\n"],
                         ids=["too-short", "spaces", "twice"])
def test_malformed_access_code_rejected(field: bytes) -> None:
    with pytest.raises(AccessCodeError):
        take_access_code(b"From: a@clinic.test\r\n" + field + b"\r\nbody\r\n")


def test_message_asks_for_access_code(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message, access_code="4821")
    sign_in(client, pickup)

    response = client.get(f"/messages/{pickup.escrow_id}")

    assert response.status_code == 302
    assert response["Location"] == f"/messages/{pickup.escrow_id}/access"


def test_attachment_also_needs_access_code(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message, access_code="4821")
    sign_in(client, pickup)

    assert client.get(f"/messages/{pickup.escrow_id}/attachments/2").status_code == 302


def test_wrong_access_code_rejected(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message, access_code="4821")
    sign_in(client, pickup)

    response = client.post(f"/messages/{pickup.escrow_id}/access", {"code": "1111"})

    assert response.status_code == 400
    assert client.get(f"/messages/{pickup.escrow_id}").status_code == 302


def test_right_access_code_opens_message(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message, access_code="48-21")
    sign_in(client, pickup)

    client.post(f"/messages/{pickup.escrow_id}/access", {"code": "4821"})
    response = client.get(f"/messages/{pickup.escrow_id}")

    assert response.status_code == 200
    assert "Your HbA1c is 6.1%." in response.content.decode()


def test_access_code_guessing_locks(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message, access_code="4821")
    sign_in(client, pickup)

    statuses = [client.post(f"/messages/{pickup.escrow_id}/access", {"code": f"99{n:02d}"}).status_code
                for n in range(11)]

    assert statuses[:9] == [400] * 9
    assert statuses[9:] == [429, 429]
