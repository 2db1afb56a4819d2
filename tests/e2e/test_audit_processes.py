"""Audit events from real processes: concurrent appends keep one chain, and the trail contains no PHI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.gateway import CARESEAL, Gateway

pytestmark = pytest.mark.e2e

PHI = ("Maria Lopez-Garcia", "HbA1c 9.4", "E11.9", "MRN-448812", "Biopsy")


def test_parallel_appends_keep_one_chain(gateway_factory: object, tmp_path: Path) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    message = tmp_path / "m.eml"
    message.write_bytes(b"From: admin@clinic.test\r\nSubject: s\r\n\r\nbody\r\n")
    script = "; ".join(
        f"{' '.join(CARESEAL)} --config {gateway.config_path} send --from admin@clinic.test "
        f"--to p{n}@patient.test {message}" for n in range(12))
    workers = [subprocess.Popen(["bash", "-c", script], env=gateway.env) for _ in range(3)]
    codes = [worker.wait(180) for worker in workers]

    result = gateway.cli("audit", "verify")

    assert codes == [0, 0, 0]
    # Each send appends message.accepted and one policy.decided.
    assert result.stdout.decode().strip() == "Audit chain intact: 72 events."


def test_audit_verify_names_edited_event(gateway_factory: object, tmp_path: Path) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    message = tmp_path / "m.eml"
    message.write_bytes(b"From: admin@clinic.test\r\nSubject: s\r\n\r\nbody\r\n")
    for n in range(3):
        gateway.cli("send", "--from", "admin@clinic.test", "--to", f"p{n}@patient.test", str(message))
    tamper = ("from careseal.audit.models import AuditEvent as E; from django.db import connection as c; "
              "cur = c.cursor(); "
              "c.vendor == 'postgresql' and cur.execute('ALTER TABLE careseal_audit_auditevent DISABLE TRIGGER ALL'); "
              "cur.execute(\"UPDATE careseal_audit_auditevent SET kind = 'forged' WHERE seq = 4\")")
    subprocess.run([*CARESEAL[:2], "django", "shell", "-c", tamper], env={**gateway.env,
                   "CARESEAL_CONFIG": str(gateway.config_path), "DJANGO_SETTINGS_MODULE": "careseal.settings"},
                   check=True, capture_output=True, timeout=60)

    result = gateway.cli("audit", "verify", check=False)

    assert result.returncode == 1
    assert "audit chain broken at event 4" in result.stderr.decode()


def test_phi_absent_from_logs_urls_and_audit(gateway_factory: object, tmp_path: Path) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    gateway.configure(lambda d: d["delivery"].__setitem__("policy", "escrow"))
    gateway.start()
    body = (f"From: admin@clinic.test\r\nSubject: {PHI[4]} result for {PHI[0]}\r\n\r\n"
            f"{PHI[0]}, {PHI[3]}: {PHI[1]}, diagnosis {PHI[2]}.\r\n").encode()
    with gateway.smtp() as client:
        client.sendmail("admin@clinic.test", ["maria@patient.test"], body)
    gateway.wait_for(lambda rows: any(r["status"] == "escrowed" for r in rows), what="escrow")
    gateway.cli("audit", "export", "--out", str(tmp_path / "audit"))

    audit_text = (tmp_path / "audit" / "events.jsonl").read_text()
    log = gateway.log()
    events = [json.loads(line) for line in audit_text.splitlines()]

    assert {"message.accepted", "policy.decided", "escrow.created"} <= {e["kind"] for e in events}
    for text in PHI:
        assert text not in audit_text
        assert text not in log
    assert "maria@patient.test" not in audit_text
    assert "maria@patient.test" not in log


@pytest.mark.parametrize(("fmt", "magic"), [("html", b"<!DOCTYPE html>"), ("pdf", b"%PDF-"), ("csv", b"section,")])
def test_report_command_writes_each_format(gateway_factory: object, tmp_path: Path, fmt: str, magic: bytes) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    out = tmp_path / f"risk.{fmt}"

    result = gateway.cli("report", "risk", "--from", "2026-01-01", "--to", "2027-01-01", "--format", fmt,
                         "--out", str(out))

    assert result.returncode == 0
    assert out.read_bytes().startswith(magic)


def test_config_change_recorded_at_start(gateway_factory: object, tmp_path: Path) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    gateway.start()
    gateway.stop()
    gateway.configure(lambda d: d["delivery"].__setitem__("concurrency", 4))
    gateway.start()
    gateway.stop()
    gateway.cli("audit", "export", "--out", str(tmp_path / "audit"))

    events = [json.loads(line) for line in (tmp_path / "audit" / "events.jsonl").read_text().splitlines()]
    loads = [e["data"] for e in events if e["kind"] == "config.loaded"]

    assert [load["changed"] for load in loads] == [False, True]
    assert loads[0]["sha256"] != loads[1]["sha256"]
