"""Passkey endpoints reject what a browser would never send."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.portal.conftest import queue_and_escrow, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_registration_needs_verified_mailbox(client: Client) -> None:
    assert client.post("/account/passkeys/options").status_code == 302


def test_registration_options_bind_challenge(client: Client, lab_message: bytes) -> None:
    sign_in(client, queue_and_escrow(lab_message))

    options = json.loads(client.post("/account/passkeys/options").content)

    assert options["rp"]["id"] == "gateway.test"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert len(client.session["passkey_registration_challenge"]) >= 32


def test_registration_without_challenge_rejected(client: Client, lab_message: bytes) -> None:
    sign_in(client, queue_and_escrow(lab_message))

    response = client.post("/account/passkeys/register", "{}", content_type="application/json")

    assert response.status_code == 400


def test_forged_registration_rejected(client: Client, lab_message: bytes) -> None:
    sign_in(client, queue_and_escrow(lab_message))
    client.post("/account/passkeys/options")

    response = client.post("/account/passkeys/register", json.dumps({"id": "AAAA", "rawId": "AAAA",
                           "response": {}, "type": "public-key"}), content_type="application/json")

    assert response.status_code == 400


def test_unknown_credential_cannot_sign_in(client: Client) -> None:
    client.post("/sign-in/passkey/options")

    response = client.post("/sign-in/passkey", json.dumps({"id": "AAAA", "rawId": "AAAA", "response": {},
                                                           "type": "public-key"}), content_type="application/json")

    assert response.status_code == 400
    assert "address" not in client.session


def test_malformed_sign_in_rejected(client: Client) -> None:
    client.post("/sign-in/passkey/options")

    response = client.post("/sign-in/passkey", "not json", content_type="application/json")

    assert response.status_code == 400
