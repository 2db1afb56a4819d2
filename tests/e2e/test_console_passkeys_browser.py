"""A staff member adds a passkey in the console and signs in with it instead of a code, in Chromium."""

from __future__ import annotations

import pytest

from tests.support.browser import (
    chromium,
    console_first_sign_in,
    console_password_step,
    off_loopback,
    virtual_authenticator,
)
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
        cdp, authenticator = virtual_authenticator(context, page)

        console_first_sign_in(page, base, ADMIN, ADMIN_PASSWORD)
        page.get_by_role("link", name="Your passkeys (sign in without a code)").click()
        page.get_by_role("button", name="Add a passkey").click()
        page.get_by_text("Your passkey was added.").wait_for()
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]

        context.clear_cookies()
        console_password_step(page, base, ADMIN, ADMIN_PASSWORD)
        page.get_by_role("button", name="Use a passkey").click()
        page.wait_for_url(base + "/console/admin/")
        heading = page.get_by_role("heading", name="Mail, escrow and audit").is_visible()

        context.close()

    assert len(credentials) == 1
    assert heading
    assert off_loopback(requests) == []
