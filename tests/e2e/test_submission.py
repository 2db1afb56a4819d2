"""The submission port against a running gateway: TLS and AUTH rules, limits, hostile input."""

from __future__ import annotations

import base64
import email
import email.policy
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.support.gateway import ADMIN, Gateway
from tests.support.sinks import Received, TLSSink

pytestmark = pytest.mark.e2e

DESK = "front-desk@clinic.example.test"
DESK_PASSWORD = "front desk password 42"
MAX_RECIPIENTS = 3
MAX_SIZE = 200_000


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, patient_mx: TLSSink, ca_file: Path) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path_factory.mktemp("submission") / "gateway").init()
    gateway.cli("staff", "add", DESK, "--password", DESK_PASSWORD,
                "--sender-domain", "clinic.example.test", "--sender-domain", "example.test")

    def edit(document: object) -> None:
        document["submission"]["max_recipients"] = MAX_RECIPIENTS  # type: ignore[index]
        document["submission"]["max_message_size"] = MAX_SIZE  # type: ignore[index]
        routes = document["delivery"]["routes"]  # type: ignore[index]
        for domain in ("patient.test", "example.test"):
            routes[domain] = f"127.0.0.1:{patient_mx.port}"
        document["delivery"]["ca_file"] = str(ca_file)  # type: ignore[index]

    gateway.configure(edit)
    gateway.start()
    yield gateway
    gateway.close()


def wait_for_message(sink: TLSSink, marker: bytes, timeout: float = 20.0) -> Received:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sink.messages:
            if marker in message.content:
                return message
        time.sleep(0.1)
    raise AssertionError(f"no message containing {marker!r} reached the sink")


def reply(sock: socket.socket | ssl.SSLSocket) -> bytes:
    """Read one complete, possibly multi-line, SMTP reply."""
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
        lines = data.split(b"\r\n")
        complete = [line for line in lines[:-1] if line]
        if complete and complete[-1][3:4] == b" ":
            return data


def test_ehlo_after_starttls_offers_extensions(gateway: Gateway) -> None:
    client = gateway.smtp(login=False)
    client.ehlo()

    assert client.has_extn("auth")
    assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
    assert client.esmtp_features["size"] == str(MAX_SIZE)
    assert client.has_extn("8bitmime")
    assert client.has_extn("smtputf8")
    assert client.has_extn("pipelining")
    client.quit()


def test_mail_before_starttls_rejected(gateway: Gateway) -> None:
    client = smtplib.SMTP("127.0.0.1", gateway.submission_port, timeout=10)
    client.ehlo()

    code, _ = client.mail(ADMIN)

    assert code == 530
    client.close()


def test_auth_before_starttls_not_offered(gateway: Gateway) -> None:
    client = smtplib.SMTP("127.0.0.1", gateway.submission_port, timeout=10)
    client.ehlo()

    code, _ = client.docmd("AUTH", "PLAIN AGFkbWluQGNsaW5pYy50ZXN0AHg=")

    assert not client.has_extn("auth")
    assert code == 530
    client.close()


def test_mail_without_auth_rejected(gateway: Gateway) -> None:
    client = gateway.smtp(login=False)

    code, message = client.mail(ADMIN)

    assert code == 530
    assert b"Authentication required" in message
    client.quit()


def test_wrong_password_rejected(gateway: Gateway) -> None:
    client = gateway.smtp(login=False)

    with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
        client.login(ADMIN, "not the password")

    assert raised.value.smtp_code == 535
    client.close()


def test_repeated_auth_failures_close_connection(gateway: Gateway) -> None:
    client = gateway.smtp(login=False)
    client.ehlo()
    codes = [client.docmd("AUTH", "PLAIN AGFkbWluQGNsaW5pYy50ZXN0AHdyb25n")[0] for _ in range(3)]

    assert codes == [535, 535, 421]
    client.close()


def test_auth_login_mechanism_accepted(gateway: Gateway) -> None:
    client = gateway.smtp(login=False)
    client.ehlo()
    client.user, client.password = DESK, DESK_PASSWORD

    code, _ = client.auth("LOGIN", client.auth_login)

    assert code == 235
    client.quit()


def test_foreign_envelope_sender_rejected(gateway: Gateway) -> None:
    client = gateway.smtp()

    code, message = client.mail("someone@elsewhere.test")

    assert code == 553
    assert b"not allowed" in message
    client.quit()


def test_allowed_domain_sender_accepted(gateway: Gateway) -> None:
    client = gateway.smtp(user=DESK, password=DESK_PASSWORD)

    code, _ = client.mail("dr.rivera@clinic.example.test")

    assert code == 250
    client.quit()


def test_foreign_from_header_rejected(gateway: Gateway) -> None:
    client = gateway.smtp()

    with pytest.raises(smtplib.SMTPDataError) as raised:
        client.sendmail(ADMIN, ["pat@patient.test"],
                        b"From: ceo@elsewhere.test\r\nTo: pat@patient.test\r\nSubject: x\r\n\r\nbody\r\n")

    assert raised.value.smtp_code == 550
    client.quit()


def test_missing_from_header_rejected(gateway: Gateway) -> None:
    client = gateway.smtp()

    with pytest.raises(smtplib.SMTPDataError) as raised:
        client.sendmail(ADMIN, ["pat@patient.test"], b"To: pat@patient.test\r\nSubject: x\r\n\r\nbody\r\n")

    assert raised.value.smtp_code == 550
    client.quit()


def test_recipient_limit_enforced(gateway: Gateway) -> None:
    client = gateway.smtp()
    client.mail(ADMIN)
    codes = [client.rcpt(f"p{i}@patient.test")[0] for i in range(MAX_RECIPIENTS + 1)]

    assert codes == [250] * MAX_RECIPIENTS + [452]
    client.quit()


def test_declared_size_over_limit_rejected(gateway: Gateway) -> None:
    client = gateway.smtp()
    client.ehlo()

    code, _ = client.mail(ADMIN, [f"SIZE={MAX_SIZE + 1}"])

    assert code == 552
    client.quit()


def test_data_over_limit_rejected(gateway: Gateway) -> None:
    client = gateway.smtp()
    body = b"x" * 900 + b"\r\n"
    message = b"From: " + ADMIN.encode() + b"\r\nSubject: big\r\n\r\n" + body * (MAX_SIZE // len(body) + 10)

    client.mail(ADMIN)  # without SIZE=, so only the DATA byte count can catch it
    client.rcpt("pat@patient.test")

    code, _ = client.data(message)

    assert code == 552
    client.close()


def test_missing_message_id_and_date_added(gateway: Gateway, patient_mx: TLSSink) -> None:
    marker = b"marker-headers-added"
    client = gateway.smtp()
    client.sendmail(ADMIN, ["pat@patient.test"],
                    b"From: " + ADMIN.encode() + b"\r\nTo: pat@patient.test\r\nSubject: s\r\n\r\n" + marker + b"\r\n")
    client.quit()

    delivered = email.message_from_bytes(wait_for_message(patient_mx, marker).content, policy=email.policy.default)

    assert delivered["Message-ID"].endswith("@gateway.test>")
    assert delivered["Date"] is not None
    assert "by gateway.test (CareSeal) with ESMTPSA" in delivered["Received"]
    assert "pat@patient.test" not in delivered["Received"]


def test_smuggled_message_stays_in_body(gateway: Gateway, patient_mx: TLSSink, case: object) -> None:
    data = case("smtp-smuggling.data")  # type: ignore[operator]
    raw = socket.create_connection(("127.0.0.1", gateway.submission_port), timeout=10)
    reply(raw)
    raw.sendall(b"EHLO client.test\r\n")
    reply(raw)
    raw.sendall(b"STARTTLS\r\n")
    assert reply(raw).startswith(b"220")
    tls = gateway.client_context().wrap_socket(raw)
    tls.sendall(b"EHLO client.test\r\n")
    reply(tls)
    tls.sendall(b"AUTH PLAIN " + _plain(DESK, DESK_PASSWORD) + b"\r\n")
    assert reply(tls).startswith(b"235")
    for command in (b"MAIL FROM:<clinic@example.test>", b"RCPT TO:<patient@example.test>", b"DATA"):
        tls.sendall(command + b"\r\n")
        reply(tls)

    tls.sendall(data)
    final = reply(tls)
    tls.sendall(b"QUIT\r\n")
    trailing = reply(tls)
    tls.close()

    delivered = wait_for_message(patient_mx, b"Your results are ready.")
    assert final.startswith(b"250 ")
    assert trailing.startswith(b"221")
    assert b"MAIL FROM:<attacker@example.test>" in delivered.content
    assert b"forged body" in delivered.content
    assert [m for m in patient_mx.messages if m.sender == "attacker@example.test"] == []
    assert [m for m in patient_mx.messages if "victim@example.test" in m.recipients] == []


def test_pipelined_commands_before_tls_discarded(gateway: Gateway, case: object) -> None:
    pipelined = case("starttls-pipelining.client")  # type: ignore[operator]
    raw = socket.create_connection(("127.0.0.1", gateway.submission_port), timeout=10)
    reply(raw)

    raw.sendall(pipelined)
    answers = b""
    while b"\r\n220 " not in b"\r\n" + answers:
        answers += raw.recv(4096)
    tls = gateway.client_context().wrap_socket(raw)
    tls.sendall(b"NOOP\r\n")
    after_tls = reply(tls)
    tls.sendall(b"MAIL FROM:<front-desk@clinic.example.test>\r\n")
    mail_reply = reply(tls)
    tls.close()

    assert after_tls.startswith(b"250 ")
    assert mail_reply.startswith(b"503")


def test_encoded_newline_subject_not_injected(gateway: Gateway, patient_mx: TLSSink, case: object) -> None:
    raw = case("encoded-newline-subject.eml")  # type: ignore[operator]
    client = gateway.smtp(user=DESK, password=DESK_PASSWORD)
    client.sendmail("rivera@clinic.example.test", ["patient@example.test"], raw)
    client.quit()

    delivered = wait_for_message(patient_mx, b"Please see the attached summary.")
    parsed = email.message_from_bytes(delivered.content, policy=email.policy.default)

    assert parsed.get_all("Bcc") is None
    assert "Follow-up visit" in str(parsed["Subject"])
    assert len(parsed.get_all("Subject")) == 1
    assert delivered.recipients == ["patient@example.test"]


def test_long_utf8_lines_reencoded(gateway: Gateway, patient_mx: TLSSink, case: object) -> None:
    raw = case("long-line-utf8.eml")  # type: ignore[operator]
    client = gateway.smtp(user=DESK, password=DESK_PASSWORD)
    client.sendmail("nurse@clinic.example.test", ["patient@example.test"], raw)
    client.quit()

    delivered = wait_for_message(patient_mx, b"Subject: Instrucciones")
    longest = max(len(line) for line in delivered.content.split(b"\r\n"))
    original_text = email.message_from_bytes(raw, policy=email.policy.default).get_content()
    wrapped = email.message_from_bytes(delivered.content, policy=email.policy.default)
    delivered_text = list(wrapped.iter_parts())[1].get_content()  # the first part is the reply notice

    assert longest <= 998
    assert delivered_text == original_text


def test_log_has_no_addresses(gateway: Gateway, patient_mx: TLSSink) -> None:
    marker = b"marker-log-check"
    client = gateway.smtp()
    client.sendmail(ADMIN, ["pat@patient.test"],
                    b"From: " + ADMIN.encode() + b"\r\nTo: pat@patient.test\r\nSubject: Lab results\r\n\r\n"
                    + marker + b"\r\n")
    client.quit()
    wait_for_message(patient_mx, marker)

    log = gateway.log()

    assert "accepted queue_id=" in log
    assert "@" not in log
    assert "Lab results" not in log


def _plain(user: str, password: str) -> bytes:
    import base64

    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())


def test_sink_certificate_is_from_test_ca(patient_mx: TLSSink, ca: trustme.CA) -> None:
    # Guards the fixtures: a gateway trusting the test CA must be what makes delivery work.
    assert patient_mx.mode == "valid"


@pytest.mark.parametrize("headers", [
    b"From : Evil CEO <evil@evil.test>\r\nFrom: admin@clinic.test\r\n",
    b"From: admin@clinic.test\r\nSubject: x\r\nFrom\t: evil@evil.test\r\n",
    b"From: admin@clinic.test\r\nX-Junk-no-colon\r\nFrom: evil@evil.test\r\n",
    b"From: admin@clinic.test;evil@evil.test\r\n",
    b"From: <admin@clinic.test> evil@evil.test\r\n",
    b"From evil@evil.test Mon Jan  1 00:00:00 2026\r\nFrom: admin@clinic.test\r\n",
    b"From: admin@clinic.test\r\nSender: evil@evil.test\r\n",
    b"From: admin@clinic.test\r\nResent-From: evil@evil.test\r\n",
], ids=["space-before-colon", "second-from", "line-without-colon", "semicolon", "trailing-address",
        "mbox-separator", "foreign-sender", "foreign-resent-from"])
def test_disguised_foreign_author_rejected(gateway: Gateway, headers: bytes) -> None:
    client = gateway.smtp()

    with pytest.raises(smtplib.SMTPDataError) as raised:
        client.sendmail(ADMIN, ["pat@patient.test"], headers + b"Subject: s\r\n\r\nbody\r\n")

    assert raised.value.smtp_code == 550
    client.close()


def test_obsolete_display_name_accepted(gateway: Gateway, patient_mx: TLSSink) -> None:
    client = gateway.smtp()
    client.sendmail(ADMIN, ["pat@patient.test"],
                    b"From: Dr. Admin <admin@clinic.test>\r\nSubject: s\r\n\r\nmarker-obsolete-phrase\r\n")
    client.quit()

    assert wait_for_message(patient_mx, b"marker-obsolete-phrase").sender == ADMIN


def test_bare_lf_message_normalized(gateway: Gateway, patient_mx: TLSSink) -> None:
    raw = (b"From: admin@clinic.test\nMessage-ID: <lf-1@clinic.test>\nDate: Thu, 01 Jan 2026 00:00:00 +0000\n"
           b"Subject: s\n\nmarker-bare-lf\nsecond line\n")
    client = gateway.smtp()
    client.mail(ADMIN)
    client.rcpt("pat@patient.test")
    client.send(b"DATA\r\n")
    client.getreply()
    client.send(raw + b"\r\n.\r\n")
    code, _ = client.getreply()
    client.quit()

    delivered = wait_for_message(patient_mx, b"marker-bare-lf").content
    parsed = email.message_from_bytes(delivered, policy=email.policy.default)
    assert code == 250
    assert b"\n" not in delivered.replace(b"\r\n", b"")
    assert len(parsed.get_all("Message-ID")) == 1
    assert len(parsed.get_all("Date")) == 1


@pytest.mark.parametrize(("address", "code"), [
    ("x@b,c@patient.test", 501),  # aiosmtpd's own address parser rejects this one
    ('jane"doe@patient.test', 553),
    ("x@[127.0.0.1]", 553),
    ("dash@-patient.test", 553),
    ("pätient@patient.test", 553),
])
def test_unsafe_recipient_rejected(gateway: Gateway, address: str, code: int) -> None:
    client = gateway.smtp()
    client.command_encoding = "utf-8"
    client.mail(ADMIN)

    reply_code, _ = client.docmd("RCPT", f"TO:<{address}>")

    assert reply_code == code
    client.close()


def test_utf8_recipient_delivered_with_smtputf8(gateway: Gateway, patient_mx: TLSSink) -> None:
    client = gateway.smtp()
    client.sendmail(ADMIN, ["pätient@patient.test"], b"From: admin@clinic.test\r\nSubject: s\r\n\r\nmarker-utf8\r\n",
                    mail_options=["SMTPUTF8"])
    client.quit()

    assert wait_for_message(patient_mx, b"marker-utf8").recipients == ["pätient@patient.test"]


def test_foreign_authorization_identity_rejected(gateway: Gateway) -> None:
    client = gateway.smtp(login=False)
    credentials = base64.b64encode(f"{ADMIN}\0{DESK}\0{DESK_PASSWORD}".encode()).decode()

    code, _ = client.docmd("AUTH", f"PLAIN {credentials}")

    assert code == 535
    client.close()


def test_long_auth_line_accepted(gateway: Gateway) -> None:
    long_password = "p" * 700
    gateway.cli("staff", "add", "long@clinic.example.test", "--password", long_password)
    client = gateway.smtp(login=False)

    code, _ = client.docmd("AUTH", "PLAIN " + _plain("long@clinic.example.test", long_password).decode())

    assert code == 235
    client.close()


def test_login_ignores_case(gateway: Gateway) -> None:
    client = gateway.smtp(login=False)

    code, _ = client.login(DESK.upper(), DESK_PASSWORD)

    assert code == 235
    client.close()


def test_failed_logins_throttled_across_connections(gateway: Gateway) -> None:
    gateway.cli("staff", "add", "target@clinic.example.test", "--password", "target password 12345")
    codes = []
    for _ in range(6):
        client = gateway.smtp(login=False)
        for _ in range(2):
            codes.append(client.docmd("AUTH", "PLAIN " + _plain("target@clinic.example.test", "wrong").decode())[0])
        client.close()
    client = gateway.smtp(login=False)
    right = client.docmd("AUTH", "PLAIN " + _plain("target@clinic.example.test", "target password 12345").decode())
    client.close()

    assert codes[:10] == [535] * 10
    assert codes[10:] == [454, 454]
    assert right[0] == 454


def test_access_code_field_never_leaves(gateway: Gateway, patient_mx: TLSSink) -> None:
    client = gateway.smtp()
    client.sendmail(ADMIN, ["pat@patient.test"], b"From: admin@clinic.test\r\nCareSeal-Access-Code: 4821\r\n"
                    b"Subject: s\r\n\r\nmarker-access-code\r\n")
    client.quit()

    delivered = wait_for_message(patient_mx, b"marker-access-code").content

    assert b"CareSeal-Access-Code" not in delivered
    assert b"4821" not in delivered
