"""The whole path on real processes: submit over SMTP, deliver over verified TLS, defer, bounce."""

from __future__ import annotations

import email
import email.policy
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme

from tests.support.gateway import ADMIN, Gateway
from tests.support.sinks import StrippingSink, TLSSink

pytestmark = pytest.mark.e2e


def minimal_pdf() -> bytes:
    """Return a small, valid one-page PDF with binary bytes in it, built by hand."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def lab_results_message() -> bytes:
    message = EmailMessage()
    message["From"] = ADMIN
    message["To"] = "pat@patient.test"
    message["Subject"] = "Your lab results"
    message["Message-ID"] = "<lab-1@clinic.test>"
    message["Date"] = "Fri, 04 Dec 2026 10:00:00 +0000"
    message.set_content("Dear patient,\n\nyour results are attached.\n")
    message.add_alternative("<p>Dear patient,</p><p>your results are attached.</p>", subtype="html")
    message.add_attachment(minimal_pdf(), maintype="application", subtype="pdf", filename="results.pdf")
    return message.as_bytes(policy=email.policy.SMTP)


def test_multipart_pdf_arrives_unchanged(gateway_factory: object, ca: trustme.CA, ca_file: Path) -> None:
    original = lab_results_message()
    with TLSSink(ca, mode="valid", hostname="127.0.0.1") as sink:
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("patient.test", "127.0.0.1", sink.port, ca_file)
        gateway.start()
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["pat@patient.test"], original)
        rows = gateway.wait_for(lambda rows: rows and rows[0]["status"] == "delivered", what="delivery")

    delivered = sink.messages[0].content
    original_body = original.split(b"\r\n\r\n", 1)[1]
    assert len(sink.messages) == 1
    assert original_body in delivered  # wrapped after the reply notice, byte for byte
    assert delivered.startswith(b"Reply-To: <reply+")
    assert b"\r\nReceived: from " in delivered
    wrapped = email.message_from_bytes(delivered, policy=email.policy.default)
    original_entity = list(wrapped.iter_parts())[1]  # the first part is the reply notice
    attachment = next(original_entity.iter_attachments())
    assert attachment.get_content() == minimal_pdf()
    attempt = rows[0]["attempts"][0]
    assert attempt["tls_version"] == "TLSv1.3"
    assert attempt["cert_verified"] is True
    assert attempt["smtp_code"] == 250
    assert attempt["next_hop_source"] == "route"


def test_stripped_starttls_deferred_with_reason(gateway_factory: object, ca_file: Path) -> None:
    with StrippingSink() as sink:
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("patient.test", "127.0.0.1", sink.port, ca_file)
        gateway.configure(lambda d: d["delivery"].__setitem__("policy", "verified-tls"))
        gateway.start()
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["pat@patient.test"],
                            b"From: admin@clinic.test\r\nSubject: s\r\n\r\nPHI here\r\n")
        rows = gateway.wait_for(lambda rows: rows and rows[0]["status"] == "deferred", what="deferral")

    verbs = [command.split(" ", 1)[0].upper() for command in sink.commands]
    assert "MAIL" not in verbs
    assert rows[0]["last_reason"] == "STARTTLS rejected: 454 4.7.0 TLS not available due to temporary reason"
    assert rows[0]["attempts"][0]["outcome"] == "deferred"
    assert rows[0]["next_attempt_at"] is not None


def test_permanent_failure_sends_headers_only_dsn(gateway_factory: object, ca: trustme.CA, ca_file: Path) -> None:
    with TLSSink(ca, mode="valid", hostname="127.0.0.1") as patient, \
            TLSSink(ca, mode="valid", hostname="127.0.0.1") as clinic:
        patient.recorder.reply = "550 5.1.1 No such user here"
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("patient.test", "127.0.0.1", patient.port, ca_file)
        gateway.route("clinic.test", "127.0.0.1", clinic.port)
        gateway.start()
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["nobody@patient.test"],
                            b"From: admin@clinic.test\r\nSubject: Biopsy result\r\n\r\nSECRET-BODY-TEXT\r\n")
        gateway.wait_for(lambda rows: len(rows) == 2 and all(r["status"] in ("delivered", "failed") for r in rows),
                         what="failure and DSN")
        deadline = time.monotonic() + 10
        while not clinic.messages and time.monotonic() < deadline:
            time.sleep(0.1)

    dsn = clinic.messages[0]
    parsed = email.message_from_bytes(dsn.content, policy=email.policy.default)
    report = [part.get_content_type() for part in parsed.iter_parts()]
    assert dsn.sender == "<>"  # aiosmtpd's rendering of the null reverse-path
    assert dsn.recipients == [ADMIN]
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "delivery-status"
    assert report == ["text/plain", "message/delivery-status", "text/rfc822-headers"]
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert b"Status: 5.1.1" in dsn.content
    assert b"Final-Recipient: rfc822; nobody@patient.test" in dsn.content
    assert b"SECRET-BODY-TEXT" not in dsn.content


def test_sigterm_stops_cleanly(gateway_factory: object) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    gateway.start()

    code = gateway.stop()

    log = gateway.log()
    assert code == 0
    for role in ("submission", "mx", "worker", "web"):
        assert f"stopped role={role}" in log


def test_disk_below_reserve_answers_452(gateway_factory: object) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    gateway.configure(lambda d: d["storage"].__setitem__("min_free_mb", 1 << 40))
    gateway.start()

    with gateway.smtp() as client:
        code, message = client.mail(ADMIN)

    assert code == 452
    assert b"Insufficient system storage" in message
    assert gateway.queue() == []


def test_unusable_storage_stops_start(gateway_factory: object, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the blob folder should be")
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    gateway.configure(lambda d: d["storage"].__setitem__("url", f"file://{blocker}/blobs"))

    with pytest.raises(AssertionError, match="gateway exited"):
        gateway.start()

    assert "storage check failed (storage.url)" in gateway.log()


def test_storage_failure_after_start_answers_451(gateway_factory: object) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    gateway.start()
    blobs = gateway.directory / "blobs"
    for folder in blobs.iterdir():
        folder.rmdir()
    blobs.rmdir()
    blobs.write_text("the blob folder replaced by a file")

    with gateway.smtp() as client:
        client.mail(ADMIN)
        client.rcpt("pat@patient.test")
        code, message = client.data(b"From: admin@clinic.test\r\nSubject: s\r\n\r\nbody\r\n")

    assert code == 451
    assert b"Message not stored" in message
    assert gateway.queue() == []


def test_sigterm_finishes_delivery_in_flight(gateway_factory: object, ca: trustme.CA, ca_file: Path) -> None:
    with TLSSink(ca, mode="valid", hostname="127.0.0.1") as sink:
        sink.recorder.delay = 3.0
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("patient.test", "127.0.0.1", sink.port, ca_file)
        gateway.start()
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["pat@patient.test"], b"From: admin@clinic.test\r\nSubject: s\r\n\r\nbody\r\n")
        assert sink.recorder.data_started.wait(20)

        code = gateway.stop()
        rows = gateway.queue()

    assert code == 0
    assert len(sink.messages) == 1
    assert rows[0]["status"] == "delivered"
    assert [a["outcome"] for a in rows[0]["attempts"]] == ["delivered"]


def test_missing_key_folder_stops_start(gateway_factory: object) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    gateway.configure(lambda d: d.__setitem__("keys", {"dir": "no-such-keys"}))

    with pytest.raises(AssertionError, match="gateway exited"):
        gateway.start()

    assert "key ring check failed (keys.dir)" in gateway.log()


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "x@b,c@patient.test"], "invalid address"),
    (["--to", "pat@[127.0.0.1]"], "address literals"),
])
def test_send_rejects_unsafe_address(gateway_factory: object, tmp_path: Path, args: list[str], message: str) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    (tmp_path / "m.eml").write_bytes(b"From: admin@clinic.test\r\nSubject: s\r\n\r\nbody\r\n")

    result = gateway.cli("send", "--from", ADMIN, *args, str(tmp_path / "m.eml"), check=False)

    assert result.returncode == 2
    assert message in result.stderr.decode()
    assert gateway.queue() == []


@pytest.mark.parametrize("content", [b"", b"no headers at all, just text\n"], ids=["empty", "no-headers"])
def test_send_rejects_non_message(gateway_factory: object, tmp_path: Path, content: bytes) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    (tmp_path / "m.eml").write_bytes(content)

    result = gateway.cli("send", "--from", ADMIN, "--to", "pat@patient.test", str(tmp_path / "m.eml"), check=False)

    assert result.returncode == 2
    assert "not a mail message" in result.stderr.decode()


def test_staff_add_duplicate_ignores_case(gateway_factory: object) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]

    result = gateway.cli("staff", "add", ADMIN.upper(), "--password", "another long password 1", check=False)

    assert result.returncode == 2
    assert "already exists" in result.stderr.decode()
