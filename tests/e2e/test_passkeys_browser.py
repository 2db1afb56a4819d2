"""A returning patient registers a passkey and signs in with it, in Chromium with a virtual authenticator."""

from __future__ import annotations

import email
import email.policy
import re
import time
from pathlib import Path

import pytest
import trustme

from tests.support.browser import chromium, off_loopback, virtual_authenticator
from tests.support.gateway import Gateway
from tests.support.sinks import Received, TLSSink

pytestmark = pytest.mark.e2e


def body(message: Received) -> str:
    parsed = email.message_from_bytes(message.content, policy=email.policy.default)
    return parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def wait_for_count(sink: TLSSink, count: int, timeout: float = 30.0) -> list[Received]:
    deadline = time.monotonic() + timeout
    while len(sink.messages) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(sink.messages) >= count, "expected mail did not arrive"
    return list(sink.messages)


def test_passkey_registration_and_sign_in(gateway_factory: object, ca: trustme.CA, tmp_path: Path) -> None:
    with TLSSink(ca, mode="none", hostname="127.0.0.1") as patient_mx:
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("patient.test", "127.0.0.1", patient_mx.port)
        # WebAuthn accepts localhost as a secure origin but no IP address as a relying party.
        base = f"http://localhost:{gateway.web_port}"

        def edit(document: object) -> None:
            document["public_url"] = base  # type: ignore[index]
            document["delivery"]["policy"] = "escrow"  # type: ignore[index]

        gateway.configure(edit)
        gateway.start()
        (tmp_path / "m.eml").write_bytes(b"From: admin@clinic.test\r\nSubject: Results\r\n\r\nAll normal.\r\n")
        gateway.cli("send", "--from", "admin@clinic.test", "--to", "pat@patient.test", str(tmp_path / "m.eml"))
        link = re.search(r"http://localhost:\d+/p/[A-Za-z0-9_-]+", body(wait_for_count(patient_mx, 1)[0])).group(0)  # type: ignore[union-attr]

        requests: list[str] = []
        with chromium() as browser:
            context = browser.new_context()
            page = context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            cdp, authenticator = virtual_authenticator(context, page)

            page.goto(link)
            page.get_by_role("button", name="Send me a code").click()
            code = re.search(r"\b(\d{6})\b", body(wait_for_count(patient_mx, 2)[1])).group(1)  # type: ignore[union-attr]
            page.get_by_label("6-digit code").fill(code)
            page.get_by_role("button", name="Confirm", exact=True).click()
            page.goto(base + "/account/passkeys")
            page.get_by_role("button", name="Add a passkey").click()
            page.get_by_text("Your passkey was added.").wait_for()
            credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]

            context.clear_cookies()
            page.goto(base + "/")
            page.get_by_role("button", name="Sign in with a passkey").click()
            page.wait_for_url(base + "/messages/")
            inbox_heading = page.get_by_role("heading", name="Your messages").is_visible()
            subjects = page.locator("ul.inbox .subject").all_inner_texts()
            context.close()

    assert len(credentials) == 1
    assert credentials[0]["isResidentCredential"] is True
    assert inbox_heading
    assert subjects == ["Results"]
    assert off_loopback(requests) == []
