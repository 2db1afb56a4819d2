"""A staff member adds a passkey in the console and signs in with it instead of a code, in Chromium."""

from __future__ import annotations

import pyotp
import pytest

from tests.support.browser import chromium, off_loopback
from tests.support.gateway import ADMIN, ADMIN_PASSWORD, Gateway

pytestmark = pytest.mark.e2e


def test_staff_passkey_replaces_code(gateway_factory: object) -> None:
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    # WebAuthn accepts localhost as a secure origin but no IP address as a relying party.
    base = f"http://localhost:{gateway.web_port}"
    gateway.configure(lambda document: document.__setitem__("public_url", base))
    gateway.start()

    requests: list[str] = []
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True}})["authenticatorId"]

        def enter_password() -> None:
            page.goto(base + "/console/sign-in")
            page.get_by_label("Email address").fill(ADMIN)
            page.get_by_label("Password").fill(ADMIN_PASSWORD)
            page.get_by_role("button", name="Continue").click()

        enter_password()
        secret = page.locator("[data-totp-secret]").inner_text()
        page.get_by_label("6-digit code from your authenticator app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(base + "/console/admin/")
        page.get_by_role("link", name="Your passkeys (sign in without a code)").click()
        page.get_by_role("button", name="Add a passkey").click()
        page.get_by_text("Your passkey was added.").wait_for()
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]

        context.clear_cookies()
        enter_password()
        page.get_by_role("button", name="Use a passkey").click()
        page.wait_for_url(base + "/console/admin/")
        heading = page.get_by_role("heading", name="Mail, escrow and audit").is_visible()

        context.close()

    assert len(credentials) == 1
    assert heading
    assert off_loopback(requests) == []
