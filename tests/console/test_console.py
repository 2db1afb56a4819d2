"""Staff console: password then TOTP, roles, and escrow actions."""

from __future__ import annotations

import pyotp
import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from careseal import cli
from careseal.audit.models import AuditEvent
from careseal.console import roles
from careseal.console.models import StaffPasskey, StaffTOTP
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


def test_totp_secret_sealed_in_database(client: Client) -> None:
    user = make_staff(roles.STAFF)
    sign_in(client, user)

    totp = StaffTOTP.objects.get(user=user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT sealed_secret FROM careseal_console_stafftotp WHERE user_id = %s", [user.pk])
        (stored,) = cursor.fetchone()

    assert stored.startswith("v1.")
    assert totp.secret not in stored


def test_moved_totp_row_cannot_sign_in(client: Client) -> None:
    victim = make_staff(roles.STAFF, "victim@clinic.test")
    sign_in(Client(), victim)
    intruder = make_staff(roles.STAFF, "intruder@clinic.test")
    sealed = StaffTOTP.objects.get(user=victim).sealed_secret
    StaffTOTP.objects.create(user=intruder, sealed_secret=sealed, confirmed=True)

    client.post("/console/sign-in", {"username": intruder.username, "password": PASSWORD})
    page = client.get("/console/second-factor")
    code = pyotp.TOTP(StaffTOTP.objects.get(user=victim).secret).now()
    response = client.post("/console/second-factor", {"code": code})

    assert page.status_code == 500
    assert "ask an administrator to reset your second factor" in page.content.decode()
    assert response.status_code == 500
    assert client.get("/console/admin/").status_code == 302


def test_plain_secrets_sealed_by_migration() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("careseal_console", "0001_initial")])
    old = executor.loader.project_state([("careseal_console", "0001_initial")]).apps
    user = User.objects.create_user(username="old@clinic.test", password=PASSWORD, is_staff=True)
    old.get_model("careseal_console", "StaffTOTP").objects.create(user_id=user.pk, secret="JBSWY3DPEHPK3PXP",
                                                                  confirmed=True)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    totp = StaffTOTP.objects.get(user=user)
    assert totp.secret == "JBSWY3DPEHPK3PXP"
    assert "JBSWY3DPEHPK3PXP" not in totp.sealed_secret


def test_reset_second_factor_reenrolls(client: Client, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CARESEAL_CONFIG", str(settings.CARESEAL.path))
    user = make_staff(roles.STAFF)
    sign_in(Client(), user)

    status = cli.main(["staff", "reset-second-factor", user.username])
    client.post("/console/sign-in", {"username": user.username, "password": PASSWORD})
    page = client.get("/console/second-factor").content.decode()

    assert status == 0
    assert "enrolls a new one" in capsys.readouterr().out
    assert "data-totp-secret" in page
    assert AuditEvent.objects.filter(kind="console.second_factor_reset", subject={"staff": user.pk}).exists()


def test_reset_second_factor_unknown_account(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CARESEAL_CONFIG", str(settings.CARESEAL.path))

    status = cli.main(["staff", "reset-second-factor", "nobody@clinic.test"])

    assert status == 2
    assert "no staff account nobody@clinic.test" in capsys.readouterr().err


def password_step(client: Client, user: User) -> None:
    client.post("/console/sign-in", {"username": user.username, "password": PASSWORD})


def test_passkey_sign_in_needs_password_first(client: Client) -> None:
    response = client.post("/console/passkeys/authentication-options")

    assert response.status_code == 403


def test_passkey_of_other_account_rejected(client: Client) -> None:
    victim = make_staff(roles.STAFF, "victim@clinic.test")
    StaffPasskey.objects.create(user=victim, credential_id=b"victim-credential", public_key=b"key")
    intruder = make_staff(roles.STAFF, "intruder@clinic.test")
    StaffPasskey.objects.create(user=intruder, credential_id=b"intruder-credential", public_key=b"key")
    password_step(client, intruder)

    options = client.post("/console/passkeys/authentication-options").json()
    response = client.post("/console/passkeys/authenticate", {"rawId": "dmljdGltLWNyZWRlbnRpYWw", "id": "x"},
                           content_type="application/json")

    assert [item["id"] for item in options["allowCredentials"]] == ["aW50cnVkZXItY3JlZGVudGlhbA"]
    assert response.status_code == 400
    assert client.get("/console/admin/").status_code == 302
    assert AuditEvent.objects.filter(kind="console.sign_in_failed", data={"step": "passkey"}).count() == 1


def test_passkey_failures_lock_account(client: Client) -> None:
    user = make_staff(roles.STAFF)
    StaffPasskey.objects.create(user=user, credential_id=b"credential", public_key=b"key")
    password_step(client, user)
    statuses = []
    for _ in range(12):
        client.post("/console/passkeys/authentication-options")
        statuses.append(client.post("/console/passkeys/authenticate", {"rawId": "Y3JlZGVudGlhbA"},
                                    content_type="application/json").status_code)

    assert statuses[0] == 400
    assert statuses[-1] == 429


def test_second_factor_offers_passkey_when_registered(client: Client) -> None:
    user = make_staff(roles.STAFF)
    sign_in(Client(), user)
    StaffPasskey.objects.create(user=user, credential_id=b"credential", public_key=b"key")

    password_step(client, user)
    page = client.get("/console/second-factor").content.decode()

    assert "Use a passkey" in page
    assert "6-digit code" in page


def test_passkey_page_needs_full_sign_in(client: Client) -> None:
    user = make_staff(roles.STAFF)
    password_step(client, user)

    page = client.get("/console/passkeys")
    options = client.post("/console/passkeys/registration-options")

    assert page.status_code == 302
    assert options.status_code == 403


def test_reset_removes_passkeys(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CARESEAL_CONFIG", str(settings.CARESEAL.path))
    user = make_staff(roles.STAFF)
    StaffPasskey.objects.create(user=user, credential_id=b"credential", public_key=b"key")

    status = cli.main(["staff", "reset-second-factor", user.username])

    assert status == 0
    assert "Removed 1 passkey(s)" in capsys.readouterr().out
    assert not StaffPasskey.objects.filter(user=user).exists()


def test_password_change_ends_pending_step(client: Client) -> None:
    user = make_staff(roles.STAFF)
    password_step(client, user)
    user.set_password("a new password for this account 2")
    user.save()

    response = client.get("/console/second-factor")

    assert response.status_code == 302
    assert response["Location"] == "/console/sign-in"


def test_pending_step_expires(client: Client) -> None:
    user = make_staff(roles.STAFF)
    password_step(client, user)
    session = client.session
    session["console_pending_user"]["at"] -= 301
    session.save()

    assert client.get("/console/second-factor").status_code == 302
    assert client.post("/console/passkeys/authentication-options").status_code == 403


def test_reset_ends_sessions(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CARESEAL_CONFIG", str(settings.CARESEAL.path))
    user = make_staff(roles.STAFF)
    signed_in, halfway = Client(), Client()
    sign_in(signed_in, user)
    password_step(halfway, user)

    status = cli.main(["staff", "reset-second-factor", user.username.upper()])

    assert status == 0
    assert "Ended 2 session(s)" in capsys.readouterr().out
    assert signed_in.get("/console/admin/").status_code == 302
    assert halfway.get("/console/second-factor").status_code == 302


def test_sealing_migration_reverses() -> None:
    user = make_staff(roles.STAFF)
    sign_in(Client(), user)
    secret = StaffTOTP.objects.get(user=user).secret

    executor = MigrationExecutor(connection)
    executor.migrate([("careseal_console", "0001_initial")])
    old = executor.loader.project_state([("careseal_console", "0001_initial")]).apps
    restored = old.get_model("careseal_console", "StaffTOTP").objects.get(user_id=user.pk).secret
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert restored == secret
    assert StaffTOTP.objects.get(user=user).secret == secret
