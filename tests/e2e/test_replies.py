"""Plain replies come back through the inbound MX: forwarded with a banner, auto-responded once, recorded."""

from __future__ import annotations

import email
import email.policy
import json
import re
import smtplib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.support.gateway import ADMIN, Gateway
from tests.support.sinks import TLSSink

pytestmark = pytest.mark.e2e

ORIGINAL = (b"From: admin@clinic.test\r\nTo: pat@patient.test\r\nSubject: Your visit summary\r\n"
            b"Message-ID: <visit-42@clinic.test>\r\n\r\n"
            b"Dear Pat,\r\n\r\nYour A1c was 7.9 and we will adjust metformin to 1000 mg.\r\n\r\nDr. Rivera\r\n")


def wait_until(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def mx_client(gateway: Gateway) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", gateway.mx_port, timeout=30)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a sending MTA without a trust anchor for this test gateway
    client.starttls(context=context)
    client.ehlo()
    return client


@pytest.fixture
def running(gateway_factory: object, ca: trustme.CA, ca_file: Path) -> Iterator[tuple[Gateway, TLSSink, TLSSink, str]]:
    with TLSSink(ca, mode="valid", hostname="127.0.0.1") as patient_mx, \
            TLSSink(ca, mode="valid", hostname="127.0.0.1") as clinic_mx:
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("patient.test", "127.0.0.1", patient_mx.port, ca_file)
        gateway.route("example.test", "127.0.0.1", patient_mx.port)
        gateway.route("clinic.test", "127.0.0.1", clinic_mx.port)
        gateway.start()
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["pat@patient.test"], ORIGINAL)
        wait_until(lambda: patient_mx.messages)
        delivered = email.message_from_bytes(patient_mx.messages[0].content, policy=email.policy.default)
        reply_to = delivered["Reply-To"].addresses[0].addr_spec
        yield gateway, patient_mx, clinic_mx, reply_to


def reply_from_case(case: object, reply_to: str) -> bytes:
    raw = case("reply-outlook-header-block.eml")  # type: ignore[operator]
    return raw.replace(b"To: reply@gateway.example.test", f"To: {reply_to}".encode())


def test_reply_to_is_tracked_address(running: tuple[Gateway, TLSSink, TLSSink, str]) -> None:
    _, _, _, reply_to = running

    assert re.fullmatch(r"reply\+[a-z2-7]{32}@gateway\.test", reply_to)


def test_quoting_reply_forwarded_and_answered_once(running: tuple[Gateway, TLSSink, TLSSink, str],
                                                   case: object, tmp_path: Path) -> None:
    gateway, patient_mx, clinic_mx, reply_to = running
    for _ in range(3):
        with mx_client(gateway) as client:
            client.sendmail("pat@example.test", [reply_to], reply_from_case(case, reply_to))
    wait_until(lambda: len(clinic_mx.messages) >= 3)
    time.sleep(2)  # any further automatic response would have arrived by now

    answers = [m for m in patient_mx.messages if b"Auto-Submitted: auto-replied" in m.content]
    forward = email.message_from_bytes(clinic_mx.messages[0].content, policy=email.policy.default)
    banner = forward.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    gateway.cli("audit", "export", "--out", str(tmp_path / "audit"))
    events = [json.loads(line) for line in (tmp_path / "audit" / "events.jsonl").read_text().splitlines()]
    received = [e for e in events if e["kind"] == "reply.received"]

    assert len(clinic_mx.messages) == 3
    assert clinic_mx.messages[0].recipients == [ADMIN]
    assert clinic_mx.messages[0].tls_version in ("TLSv1.2", "TLSv1.3")
    assert forward["In-Reply-To"] == "<visit-42@clinic.test>"
    assert "over TLS (TLSv1.3" in banner
    assert "QUOTES your original message" in banner
    assert "Thanks, see you Tuesday." in banner
    assert len(answers) == 1
    assert answers[0].sender == "<>"
    assert answers[0].recipients == ["pat@example.test"]
    assert len(received) == 3
    assert received[0]["data"]["quoted_original"] is True
    assert received[0]["data"]["tls_version"] == "TLSv1.3"
    assert [e["kind"] for e in events].count("autoresponse.sent") == 1


@pytest.mark.parametrize("name", ["autoreply-bounce.eml", "autoreply-vacation.eml"])
def test_automatic_mail_gets_no_response(running: tuple[Gateway, TLSSink, TLSSink, str], case: object,
                                         name: str) -> None:
    gateway, patient_mx, clinic_mx, reply_to = running
    raw = case(name).replace(b"reply@gateway.example.test", reply_to.encode())  # type: ignore[operator]
    sender = "" if name == "autoreply-bounce.eml" else "pat@example.test"
    with mx_client(gateway) as client:
        client.sendmail(sender, [reply_to], raw)
    wait_until(lambda: clinic_mx.messages)
    time.sleep(2)

    assert [m for m in patient_mx.messages if b"Auto-Submitted: auto-replied" in m.content] == []


def test_unknown_reply_address_rejected(running: tuple[Gateway, TLSSink, TLSSink, str]) -> None:
    gateway, _, _, reply_to = running
    with mx_client(gateway) as client:
        client.mail("pat@example.test")
        unknown = client.rcpt("reply+" + "a" * 32 + "@gateway.test")[0]
        relay = client.rcpt("someone@elsewhere.test")[0]

    assert unknown == 550
    assert relay == 550


def test_mx_accepts_without_tls_and_records_it(running: tuple[Gateway, TLSSink, TLSSink, str],
                                               tmp_path: Path) -> None:
    gateway, _, clinic_mx, reply_to = running
    with smtplib.SMTP("127.0.0.1", gateway.mx_port, timeout=30) as client:
        client.sendmail("pat@example.test", [reply_to], b"From: pat@example.test\r\nSubject: Re: x\r\n\r\nOk.\r\n")
    wait_until(lambda: clinic_mx.messages)

    banner = email.message_from_bytes(clinic_mx.messages[0].content, policy=email.policy.default)
    assert "WITHOUT encryption" in banner.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_requiretls_needs_tls(running: tuple[Gateway, TLSSink, TLSSink, str]) -> None:
    gateway, _, _, _ = running
    with smtplib.SMTP("127.0.0.1", gateway.mx_port, timeout=30) as client:
        client.ehlo()
        plain = client.docmd("MAIL", "FROM:<pat@example.test> REQUIRETLS")[0]
    with mx_client(gateway) as client:
        secured = client.docmd("MAIL", "FROM:<pat@example.test> REQUIRETLS")[0]

    assert plain == 530
    assert secured == 250




def test_plain_reply_switches_patient_to_escrow(gateway_factory: object, ca: trustme.CA, ca_file: Path,
                                               case: object) -> None:
    with TLSSink(ca, mode="valid", hostname="127.0.0.1") as patient_mx, \
            TLSSink(ca, mode="valid", hostname="127.0.0.1") as clinic_mx:
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("patient.test", "127.0.0.1", patient_mx.port, ca_file)
        gateway.route("example.test", "127.0.0.1", patient_mx.port, ca_file)
        gateway.route("clinic.test", "127.0.0.1", clinic_mx.port)
        gateway.configure(lambda d: d["replies"].__setitem__("switch_to_escrow", True))
        gateway.start()
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["pat@example.test"], ORIGINAL.replace(b"pat@patient.test", b"pat@example.test"))
        wait_until(lambda: patient_mx.messages)
        delivered = email.message_from_bytes(patient_mx.messages[0].content, policy=email.policy.default)
        reply_to = delivered["Reply-To"].addresses[0].addr_spec
        with mx_client(gateway) as client:
            client.sendmail("pat@example.test", [reply_to], reply_from_case(case, reply_to))
        wait_until(lambda: clinic_mx.messages)
        explained = gateway.cli("policy", "explain", "--from", ADMIN, "--to", "pat@example.test").stdout.decode()
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["pat@example.test"], ORIGINAL.replace(b"pat@patient.test", b"pat@example.test"))
        rows = gateway.wait_for(lambda rows: any(r["status"] == "escrowed" for r in rows), what="escrow")

    assert "pat@example.test: escrow" in explained
    assert "recipient rule for pat@example.test: escrow (replied by plain email)" in explained
    assert [r["status"] for r in rows if r["recipient"] == "pat@example.test"].count("escrowed") == 1


def test_policy_explain_sends_nothing(gateway_factory: object, tmp_path: Path) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    message = tmp_path / "m.eml"
    message.write_bytes(b"From: admin@clinic.test\r\nSubject: [secure] MRN 448812 results\r\n\r\nbody\r\n")

    result = gateway.cli("policy", "explain", "--from", ADMIN, "--to", "pat@patient.test", str(message))

    text = result.stdout.decode()
    assert "The subject looks like PHI" in text
    assert "pat@patient.test: escrow" in text
    assert "  - subject keyword requested escrow" in text
    assert gateway.queue() == []


def test_strip_quoted_forwards_new_text_only(gateway_factory: object, ca: trustme.CA, ca_file: Path,
                                             case: object) -> None:
    with TLSSink(ca, mode="valid", hostname="127.0.0.1") as patient_mx, \
            TLSSink(ca, mode="valid", hostname="127.0.0.1") as clinic_mx:
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("patient.test", "127.0.0.1", patient_mx.port, ca_file)
        gateway.route("clinic.test", "127.0.0.1", clinic_mx.port)
        gateway.configure(lambda d: d["replies"].__setitem__("strip_quoted", True))
        gateway.start()
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["pat@patient.test"], ORIGINAL)
        wait_until(lambda: patient_mx.messages)
        delivered = email.message_from_bytes(patient_mx.messages[0].content, policy=email.policy.default)
        reply_to = delivered["Reply-To"].addresses[0].addr_spec
        with mx_client(gateway) as client:
            client.sendmail("pat@example.test", [reply_to], reply_from_case(case, reply_to))
        wait_until(lambda: clinic_mx.messages)

    forwarded = clinic_mx.messages[0].content
    assert b"Thanks, see you Tuesday." in forwarded
    assert b"metformin" not in forwarded
    assert b"QUOTES your original message" in forwarded
