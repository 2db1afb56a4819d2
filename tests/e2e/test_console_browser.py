"""Staff sign in to the console with a password and TOTP, find a message, recall it; the portal then refuses it."""

from __future__ import annotations

import email
import email.policy
import re
import time
from pathlib import Path

import pytest
import trustme

from tests.support.browser import chromium, console_first_sign_in, off_loopback
from tests.support.gateway import ADMIN, ADMIN_PASSWORD, Gateway
from tests.support.sinks import TLSSink

pytestmark = pytest.mark.e2e


def test_console_recall_closes_portal(gateway_factory: object, ca: trustme.CA, tmp_path: Path) -> None:
    with TLSSink(ca, mode="none", hostname="127.0.0.1") as patient_mx:
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("patient.test", "127.0.0.1", patient_mx.port)
        base = f"http://127.0.0.1:{gateway.web_port}"

        def edit(document: object) -> None:
            document["public_url"] = base  # type: ignore[index]
            document["delivery"]["policy"] = "escrow"  # type: ignore[index]

        gateway.configure(edit)
        gateway.start()
        (tmp_path / "m.eml").write_bytes(b"From: admin@clinic.test\r\nSubject: Results\r\n\r\nAll normal.\r\n")
        gateway.cli("send", "--from", ADMIN, "--to", "pat@patient.test", str(tmp_path / "m.eml"))
        deadline = time.monotonic() + 30
        while not patient_mx.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        notice = email.message_from_bytes(patient_mx.messages[0].content, policy=email.policy.default)
        link = re.search(r"http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]+",
                         notice.get_body(("plain",)).get_content()).group(0)  # type: ignore[union-attr]

        requests: list[str] = []
        errors: list[str] = []
        with chromium() as browser:
            staff = browser.new_page()
            staff.on("request", lambda request: requests.append(request.url))
            staff.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            console_first_sign_in(staff, base, ADMIN, ADMIN_PASSWORD)

            staff.goto(base + "/console/admin/careseal_escrow/escrow/?q=pat%40patient.test")
            rows = staff.locator("#result_list tbody tr").count()
            staff.locator("#result_list tbody input[type=checkbox]").first.check()
            staff.locator("select[name=action]").select_option("recall")
            staff.get_by_role("button", name="Run").click()
            confirmation = staff.locator(".messagelist").inner_text()

            patient = browser.new_page()
            response = patient.goto(link)
            patient_text = patient.locator("main").inner_text()

    assert rows == 1
    assert "1 escrowed message(s) recalled." in confirmation
    assert response is not None
    assert response.status == 410
    assert "withdrawn" in patient_text
    assert off_loopback(requests) == []
    assert errors == []
