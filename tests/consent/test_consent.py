"""Consent to plain email: given in the portal, recorded from paper, revoked, and used by the policy."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from careseal.audit.models import AuditEvent
from careseal.consent import service
from careseal.consent.models import CONSENT_TEXT_VERSION, Consent
from careseal.policy.decision import decide
from tests.portal.conftest import PATIENT, queue_and_escrow, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_portal_consent_recorded_with_evidence(client: Client, lab_message: bytes) -> None:
    sign_in(client, queue_and_escrow(lab_message))

    response = client.post("/consent", {"typed_name": "Pat Example", "confirm": "on"},
                           HTTP_USER_AGENT="TestBrowser/1.0", REMOTE_ADDR="127.0.0.9")

    consent = Consent.objects.get()
    assert response.status_code == 302
    assert (consent.address, consent.method, consent.typed_name) == (PATIENT, "portal", "Pat Example")
    assert consent.text_version == CONSENT_TEXT_VERSION
    assert consent.user_agent == "TestBrowser/1.0"
    assert consent.ip_address == "127.0.0.9"
    assert AuditEvent.objects.filter(kind="consent.given").count() == 1


def test_consent_needs_confirmation(client: Client, lab_message: bytes) -> None:
    sign_in(client, queue_and_escrow(lab_message))

    response = client.post("/consent", {"typed_name": "Pat Example"})

    assert response.status_code == 400
    assert Consent.objects.count() == 0


def test_consent_page_needs_mailbox_proof(client: Client) -> None:
    assert client.get("/consent").status_code == 302


def test_revoke_from_portal(client: Client, lab_message: bytes) -> None:
    sign_in(client, queue_and_escrow(lab_message))
    client.post("/consent", {"typed_name": "Pat Example", "confirm": "on"})

    client.post("/consent/revoke")

    assert service.valid_consent(PATIENT) is None
    assert Consent.objects.get().revoked_via == "portal"


def test_expired_consent_not_valid() -> None:
    service.give(address=PATIENT, typed_name="Pat", language="en", method="paper",
                 expires_at=timezone.now() - dt.timedelta(days=1))

    assert service.valid_consent(PATIENT) is None


def test_plain_consented_without_consent_falls_back() -> None:
    decision = decide(default_policy="plain-consented", secure_keyword=False, recipient=PATIENT)

    assert decision.policy == "tls-or-escrow"
    assert decision.reasons[-1] == "no valid consent to plain email: tls-or-escrow instead"


def test_plain_consented_with_consent() -> None:
    decision = decide(default_policy="plain-consented", secure_keyword=False, recipient=PATIENT,
                      consent="portal, given 2026-12-04, text version 2026-12-01")

    assert decision.policy == "plain-consented"
