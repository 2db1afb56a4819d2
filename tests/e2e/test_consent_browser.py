"""Consent given in the portal switches the next message to plain delivery; revoking switches back to escrow."""

from __future__ import annotations

import email
import email.policy
import re
import time

import pytest
import trustme

from tests.support.browser import chromium
from tests.support.gateway import ADMIN, Gateway
from tests.support.sinks import Received, TLSSink

pytestmark = pytest.mark.e2e


def text_of(message: Received) -> str:
    parsed = email.message_from_bytes(message.content, policy=email.policy.default)
    body = parsed.get_body(("plain",))
    return body.get_content() if body is not None else ""  # type: ignore[union-attr]


def wait_for(sink: TLSSink, predicate: object, timeout: float = 30.0) -> Received:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(sink.messages):
            if predicate(message):  # type: ignore[operator]
                return message
        time.sleep(0.1)
    raise AssertionError("expected mail did not arrive")


def send(gateway: Gateway, marker: str) -> None:
    with gateway.smtp() as client:
        client.sendmail(ADMIN, ["pat@patient.test"],
                        f"From: {ADMIN}\r\nSubject: Update\r\n\r\n{marker}\r\n".encode())


def test_consent_then_revocation(gateway_factory: object, ca: trustme.CA) -> None:
    with TLSSink(ca, mode="none", hostname="127.0.0.1") as patient_mx:
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("patient.test", "127.0.0.1", patient_mx.port)
        base = f"http://127.0.0.1:{gateway.web_port}"

        def edit(document: object) -> None:
            document["public_url"] = base  # type: ignore[index]
            document["delivery"]["policy"] = "plain-consented"  # type: ignore[index]

        gateway.configure(edit)
        gateway.start()

        send(gateway, "first-message-body")
        notice = wait_for(patient_mx, lambda m: b"/p/" in m.content)
        link = re.search(r"http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]+", text_of(notice)).group(0)  # type: ignore[union-attr]

        with chromium() as browser:
            page = browser.new_page()
            page.goto(link)
            page.get_by_role("button", name="Send me a code").click()
            code_mail = wait_for(patient_mx, lambda m: re.search(rb"code for", m.content) is not None)
            page.get_by_label("6-digit code").fill(re.search(r"\b(\d{6})\b", text_of(code_mail)).group(1))  # type: ignore[union-attr]
            page.get_by_role("button", name="Confirm", exact=True).click()
            page.goto(base + "/consent")
            page.get_by_label("Type your full name").fill("Pat Example")
            page.get_by_label("I have read the risks").check()
            page.get_by_role("button", name="I agree").click()
            given = page.get_by_role("status").inner_text()

            send(gateway, "second-message-body")
            plain = wait_for(patient_mx, lambda m: b"second-message-body" in m.content)

            page.goto(base + "/consent")
            page.get_by_role("button", name="Withdraw my consent").click()
            withdrawn = page.get_by_role("status").inner_text()

        send(gateway, "third-message-body")
        rows = gateway.wait_for(lambda rows: sum(r["status"] == "escrowed" for r in rows) >= 2, what="escrow")

    statuses = [r["status"] for r in rows if r["kind"] == "submitted"]
    assert "Your consent was recorded." in given
    assert plain.tls_version is None
    assert b"because you agreed to it" in plain.content
    assert "withdrawn" in withdrawn
    assert statuses == ["escrowed", "delivered", "escrowed"]
    assert [m for m in patient_mx.messages if b"third-message-body" in m.content] == []
