"""Staff console: password then TOTP, roles, and escrow actions."""

from __future__ import annotations

import pyotp
import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from careseal.audit.models import AuditEvent
from careseal.console import roles
from careseal.console.models import StaffTOTP
from careseal.escrow.models import Escrow
from tests.portal.conftest import queue_and_escrow

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "staff password for tests 1"


def make_staff(role: str, email: str = "nurse@clinic.test") -> User:
    user = User.objects.create_user(username=email, email=email, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def sign_in(client: Client, user: User) -> None:
    client.post("/console/sign-in", {"username": user.username, "password": PASSWORD})
    client.get("/console/second-factor")
    secret = StaffTOTP.objects.get(user=user).secret
    response = client.post("/console/second-factor", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302


def test_password_alone_does_not_open_console(client: Client) -> None:
    user = make_staff(roles.STAFF)

    client.post("/console/sign-in", {"username": user.username, "password": PASSWORD})
    response = client.get("/console/admin/", follow=True)

    assert response.redirect_chain[-1] == ("/console/sign-in", 302)


def test_totp_code_opens_console(client: Client) -> None:
    sign_in(client, make_staff(roles.STAFF))

    assert client.get("/console/admin/").status_code == 200


def test_totp_code_not_reusable() -> None:
    user = make_staff(roles.STAFF)
    first = Client()
    sign_in(first, user)
    totp = StaffTOTP.objects.get(user=user)
    used = pyotp.TOTP(totp.secret).at(totp.last_step * 30)

    second = Client()
    second.post("/console/sign-in", {"username": user.username, "password": PASSWORD})
    response = second.post("/console/second-factor", {"code": used})

    assert response.status_code == 400


def test_wrong_totp_rejected(client: Client) -> None:
    user = make_staff(roles.STAFF)
    client.post("/console/sign-in", {"username": user.username, "password": PASSWORD})
    client.get("/console/second-factor")
    secret = StaffTOTP.objects.get(user=user).secret
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 1) % 1_000_000:06d}"

    response = client.post("/console/second-factor", {"code": wrong})

    assert response.status_code == 400
    assert client.get("/console/admin/").status_code == 302


def test_staff_recalls_escrow(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    user = make_staff(roles.STAFF)
    sign_in(client, user)

    client.post("/console/admin/careseal_escrow/escrow/", {"action": "recall", "_selected_action": [pickup.escrow_id]})

    assert Escrow.objects.get(pk=pickup.escrow_id).status == Escrow.Status.RECALLED
    assert AuditEvent.objects.filter(kind="escrow.recalled", actor=f"staff:{user.pk}").count() == 1


def test_auditor_cannot_recall(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, make_staff(roles.AUDITORS, "auditor@clinic.test"))

    client.post("/console/admin/careseal_escrow/escrow/", {"action": "recall", "_selected_action": [pickup.escrow_id]})

    assert Escrow.objects.get(pk=pickup.escrow_id).status == Escrow.Status.ACTIVE
    assert client.get("/console/admin/careseal_audit/auditevent/").status_code == 200


def test_staff_cannot_manage_accounts(client: Client) -> None:
    sign_in(client, make_staff(roles.STAFF))

    assert client.get("/console/admin/auth/user/").status_code == 403


def test_delivery_search_by_recipient(client: Client, lab_message: bytes) -> None:
    queue_and_escrow(lab_message)
    sign_in(client, make_staff(roles.STAFF))

    page = client.get("/console/admin/careseal_queue/delivery/", {"q": "pat@patient.test"}).content.decode()

    assert "pat@patient.test" in page
    assert "escrowed" in page


def test_console_sign_in_audited(client: Client) -> None:
    user = make_staff(roles.STAFF)
    sign_in(client, user)

    assert AuditEvent.objects.filter(kind="console.sign_in", actor=f"staff:{user.pk}").exists()


def test_auditor_downloads_risk_report(client: Client) -> None:
    sign_in(client, make_staff(roles.AUDITORS, "auditor@clinic.test"))

    response = client.post("/console/risk-report", {"start": "2026-01-01", "end": "2027-01-01", "format": "csv"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="careseal-risk-2026-01-01-2027-01-01.csv"'
    assert response.content.startswith(b"section,metric,value")
    assert AuditEvent.objects.filter(kind="console.report_generated").count() == 1


def test_risk_report_needs_second_factor(client: Client) -> None:
    user = make_staff(roles.AUDITORS, "auditor@clinic.test")
    client.post("/console/sign-in", {"username": user.username, "password": PASSWORD})

    response = client.post("/console/risk-report", {"start": "2026-01-01", "end": "2027-01-01", "format": "csv"})

    assert response.status_code == 302


def test_console_index_links_report(client: Client) -> None:
    sign_in(client, make_staff(roles.STAFF))

    assert "/console/risk-report" in client.get("/console/admin/").content.decode()


def test_resend_notice_replaces_link(client: Client, lab_message: bytes) -> None:
    from careseal.queue.models import Message

    pickup = queue_and_escrow(lab_message)
    sign_in(client, make_staff(roles.STAFF))

    client.post("/console/admin/careseal_escrow/escrow/", {"action": "resend_notice",
                                                          "_selected_action": [pickup.escrow_id]})

    assert Message.objects.filter(kind=Message.Kind.NOTICE).count() == 2
    assert Client().get(pickup.link).status_code == 404  # the first notice's link no longer works
    assert AuditEvent.objects.filter(kind="escrow.notice_resent").count() == 1


def test_paper_consent_with_scanned_form(client: Client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from careseal.consent.models import Consent
    from careseal.queue.vault import blob_store

    sign_in(client, make_staff(roles.STAFF))
    scan = SimpleUploadedFile("signed form.pdf", b"%PDF-1.4 signed consent", content_type="application/pdf")

    client.post("/console/admin/careseal_consent/consent/add/", {
        "address": "Pat@Patient.test", "typed_name": "Pat Example", "language": "en",
        "given_at_0": "2026-12-01", "given_at_1": "10:00:00", "scanned_form": scan})
    consent = Consent.objects.get()
    download = client.get(f"/console/consent-form/{consent.pk}")

    assert (consent.address, consent.method) == ("pat@patient.test", "paper")
    assert b"signed consent" not in blob_store().get(consent.form_blob)
    assert download.content == b"%PDF-1.4 signed consent"
    assert download["Content-Disposition"] == 'attachment; filename="signed form.pdf"'


def test_auditor_cannot_add_policy_rule(client: Client) -> None:
    sign_in(client, make_staff(roles.AUDITORS, "auditor@clinic.test"))

    assert client.get("/console/admin/careseal_rules/policyrule/add/").status_code == 403
