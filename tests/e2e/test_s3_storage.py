"""The gateway's processes with sealed content in S3: Swift's S3 API on loopback, over HTTPS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.e2e.test_delivery import lab_results_message, minimal_pdf
from tests.e2e.test_portal_browser import text_of, wait_for
from tests.support.browser import chromium, off_loopback
from tests.support.gateway import ADMIN, Gateway
from tests.support.s3 import SECRET_ACCESS_KEY, SwiftS3, configure_gateway
from tests.support.sinks import TLSSink, free_port

pytestmark = pytest.mark.e2e


def submitted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row["kind"] == "submitted"]


@pytest.fixture
def patient_without_tls(ca: trustme.CA) -> Iterator[TLSSink]:
    with TLSSink(ca, mode="none", hostname="127.0.0.1") as sink:
        yield sink


def test_pickup_from_bucket(
        gateway_factory: object, swift: SwiftS3, bucket: str, patient_without_tls: TLSSink, ca_file: Path) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    configure_gateway(gateway, swift, bucket)
    gateway.route("patient.test", "127.0.0.1", patient_without_tls.port, ca_file)
    gateway.configure(lambda d: d.__setitem__("public_url", f"http://127.0.0.1:{gateway.web_port}"))
    gateway.start()
    with gateway.smtp() as client:
        client.sendmail(ADMIN, ["pat@patient.test"], lab_results_message())

    notice = wait_for(patient_without_tls, lambda m: b"/p/" in m.content)
    link = re.search(r"http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]+", text_of(notice)).group(0)  # type: ignore[union-attr]
    requests: list[str] = []
    with chromium() as browser:
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.goto(link)
        page.get_by_role("button", name="Send me a code").click()
        code_mail = wait_for(patient_without_tls, lambda m: b"/p/" not in m.content
                             and re.search(rb"\b\d{6}\b", m.content) is not None)
        page.get_by_label("6-digit code").fill(re.search(r"\b(\d{6})\b", text_of(code_mail)).group(1))  # type: ignore[union-attr]
        page.get_by_role("button", name="Confirm", exact=True).click()
        heading_visible = page.get_by_role("heading", name="Your lab results").is_visible()
        with page.expect_download() as download_info:
            page.get_by_role("link", name="results.pdf").click()
        downloaded = Path(download_info.value.path()).read_bytes()
        context.close()

    queue_id = submitted(gateway.queue())[0]["queue_id"]
    objects = swift.objects(bucket, prefix="careseal/")
    assert heading_visible
    assert downloaded == minimal_pdf()
    assert off_loopback(requests) == []
    assert f"careseal/{queue_id}" in objects
    for blob in objects.values():
        assert b"Your lab results" not in blob
        assert b"Dear patient" not in blob
    assert not (gateway.directory / "blobs").exists()
    assert SECRET_ACCESS_KEY not in gateway.log()


def test_storage_outage_answers_451(
        gateway_factory: object, ca: trustme.CA, tmp_path: Path, patient_without_tls: TLSSink,
        ca_file: Path) -> None:
    # A server of this test's own, so stopping it leaves the session's server alone.
    swift = SwiftS3(tmp_path / "swift", ca)
    swift.start()
    try:
        swift.create_bucket("outage")
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        configure_gateway(gateway, swift, "outage")
        gateway.route("patient.test", "127.0.0.1", patient_without_tls.port, ca_file)
        gateway.start()
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["pat@patient.test"], lab_results_message())
        gateway.wait_for(lambda rows: [row["status"] for row in submitted(rows)] == ["escrowed"])
        before = swift.objects("outage")

        swift.pause_proxy()
        with gateway.smtp() as client:
            client.mail(ADMIN)
            client.rcpt("pat@patient.test")
            code, reply = client.data(b"From: admin@clinic.test\r\nSubject: during the outage\r\n\r\nbody\r\n")
        queued_during_outage = submitted(gateway.queue())
        swift.resume_proxy()
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["pat@patient.test"], b"From: admin@clinic.test\r\nSubject: after\r\n\r\nbody\r\n")
        after = swift.objects("outage")
        rows = submitted(gateway.queue())
    finally:
        swift.stop()

    assert code == 451
    assert b"Message not stored" in reply
    assert len(queued_during_outage) == 1
    assert len(rows) == 2
    assert set(before) < set(after)
    assert {key: after[key] for key in before} == before


def test_wrong_secret_stops_start(gateway_factory: object, swift: SwiftS3, bucket: str) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    configure_gateway(gateway, swift, bucket, secret="not-the-secret")

    with pytest.raises(AssertionError, match="gateway exited"):
        gateway.start()

    assert "storage check failed (storage.url)" in gateway.log()
    assert "check storage.access_key_id and storage.secret_access_key_file" in gateway.log()
    assert "not-the-secret" not in gateway.log()


def test_send_during_outage_exits_75(gateway_factory: object, swift: SwiftS3, bucket: str, tmp_path: Path) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    configure_gateway(gateway, swift, bucket)
    gateway.configure(lambda d: d["storage"].__setitem__("endpoint_url", f"https://127.0.0.1:{free_port()}"))
    (tmp_path / "m.eml").write_bytes(b"From: admin@clinic.test\r\nSubject: Results\r\n\r\nAll normal.\r\n")

    result = gateway.cli("send", "--from", ADMIN, "--to", "pat@patient.test", str(tmp_path / "m.eml"), check=False)

    assert result.returncode == 75
    assert b"message not queued, try again later" in result.stderr
    assert b"Traceback" not in result.stderr


def test_move_to_s3_with_storage_copy(gateway_factory: object, swift: SwiftS3, bucket: str,
                                      patient_without_tls: TLSSink, ca_file: Path, tmp_path: Path) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    gateway.route("patient.test", "127.0.0.1", patient_without_tls.port, ca_file)
    gateway.configure(lambda d: d["delivery"].__setitem__("policy", "escrow"))
    (tmp_path / "m.eml").write_bytes(b"From: admin@clinic.test\r\nSubject: Results\r\n\r\nAll normal.\r\n")
    queue_id = gateway.cli("send", "--from", ADMIN, "--to", "pat@patient.test",
                           str(tmp_path / "m.eml")).stdout.decode().strip()
    before = gateway.directory / "careseal-before.toml"
    before.write_bytes(gateway.config_path.read_bytes())
    configure_gateway(gateway, swift, bucket)

    gateway.start()
    stranded_log = gateway.log()
    gateway.stop()
    copied = gateway.cli("storage", "copy", "--from-config", str(before))
    log_length = len(gateway.log())
    gateway.start()
    after_copy_log = gateway.log()[log_length:]

    assert f"storage role=web url=s3://{bucket}/careseal" in stranded_log
    assert f"is not in s3://{bucket}/careseal (queue ids {queue_id})" in stranded_log
    assert "careseal storage copy --from-config" in stranded_log
    assert b"Copied 1 blobs" in copied.stdout
    assert f"careseal/{queue_id}" in swift.objects(bucket, prefix="careseal/")
    assert "storage role=worker" in after_copy_log
    assert "is not in" not in after_copy_log
