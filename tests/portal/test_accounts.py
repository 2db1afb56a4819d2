"""Patient passwords and the public secure contact page."""

from __future__ import annotations

import dataclasses
import email
import email.policy

import pytest
from django.conf import settings as django_settings
from django.test import Client

from careseal.portal.models import PatientAccount
from careseal.queue import store
from careseal.queue.models import Message
from tests.portal.conftest import PATIENT, latest_code, queue_and_escrow, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "tangerine river 42"


def test_password_needs_verified_mailbox(client: Client) -> None:
    response = client.post("/account/password", {"password": PASSWORD, "confirm": PASSWORD})

    assert response.status_code == 302
    assert PatientAccount.objects.count() == 0


def test_password_stored_as_argon2(client: Client, lab_message: bytes, settings: object) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]  # type: ignore[attr-defined]
    sign_in(client, queue_and_escrow(lab_message))

    client.post("/account/password", {"password": PASSWORD, "confirm": PASSWORD})

    assert PatientAccount.objects.get(address=PATIENT).password.startswith("argon2")


@pytest.mark.parametrize(("password", "message"), [("short1", "at least 8"), ("password123", "too common")])
def test_weak_password_rejected(client: Client, lab_message: bytes, password: str, message: str) -> None:
    sign_in(client, queue_and_escrow(lab_message))

    response = client.post("/account/password", {"password": password, "confirm": password})

    assert response.status_code == 400
    assert message in response.content.decode()


def test_password_sign_in_opens_inbox(lab_message: bytes) -> None:
    first = Client()
    sign_in(first, queue_and_escrow(lab_message))
    first.post("/account/password", {"password": PASSWORD, "confirm": PASSWORD})

    later = Client()
    response = later.post("/sign-in/password", {"address": "Pat@Patient.test", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/messages/"
    assert later.get("/messages/").status_code == 200


def test_wrong_password_rejected(lab_message: bytes) -> None:
    first = Client()
    sign_in(first, queue_and_escrow(lab_message))
    first.post("/account/password", {"password": PASSWORD, "confirm": PASSWORD})

    response = Client().post("/sign-in/password", {"address": PATIENT, "password": "not it at all"})

    assert response.status_code == 400


def test_password_guessing_locks(lab_message: bytes) -> None:
    first = Client()
    sign_in(first, queue_and_escrow(lab_message))
    first.post("/account/password", {"password": PASSWORD, "confirm": PASSWORD})
    attacker = Client()

    statuses = [attacker.post("/sign-in/password", {"address": PATIENT, "password": f"guess {n}"}).status_code
                for n in range(10)]
    after = attacker.post("/sign-in/password", {"address": PATIENT, "password": PASSWORD})

    assert statuses[-1] == 429
    assert after.status_code == 429


@pytest.fixture
def departments(monkeypatch: pytest.MonkeyPatch) -> None:
    config = django_settings.CARESEAL
    monkeypatch.setattr(django_settings, "CARESEAL", dataclasses.replace(
        config, contact=dataclasses.replace(config.contact, departments={"Billing": "billing@clinic.test",
                                                                         "Front desk": "desk@clinic.test"})))


def test_contact_page_off_without_departments(client: Client) -> None:
    assert client.get("/contact").status_code == 404


def test_contact_message_after_code(client: Client, departments: None) -> None:
    client.post("/contact/start", {"address": "new.patient@example.test"})
    client.post("/pickup/code")
    verified = client.post("/verify", {"code": latest_code()})

    response = client.post("/contact", {"department": "Billing", "subject": "Question about my bill",
                                        "body": "Why was I charged twice?"})

    queued = Message.objects.get(kind=Message.Kind.PORTAL)
    parsed = email.message_from_bytes(store.content(queued), policy=email.policy.default)
    assert verified["Location"] == "/contact"
    assert response.status_code == 302
    assert list(queued.deliveries.values_list("recipient", "policy")) == [("billing@clinic.test", "verified-tls")]
    assert parsed["Reply-To"] == "new.patient@example.test"
    assert parsed["Subject"] == "[Secure contact] Question about my bill"


def test_contact_requires_verified_address(client: Client, departments: None) -> None:
    response = client.post("/contact", {"department": "Billing", "subject": "s", "body": "b"})

    assert response.status_code == 200
    assert Message.objects.filter(kind=Message.Kind.PORTAL).count() == 0


def test_contact_unknown_department_rejected(client: Client, departments: None) -> None:
    client.post("/contact/start", {"address": "new.patient@example.test"})
    client.post("/pickup/code")
    client.post("/verify", {"code": latest_code()})

    response = client.post("/contact", {"department": "Nowhere", "subject": "s", "body": "b"})

    assert response.status_code == 400
