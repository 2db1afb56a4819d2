"""Debian's Chromium driven by Playwright, kept on loopback.

Playwright's own browser download cannot run here, so the system Chromium
is launched with flags that stop its background traffic to outside hosts.
Every request a page makes is recorded, so a test can assert that nothing
left for another host.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-domain-reliability", "--metrics-recording-only",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def off_loopback(urls: list[str]) -> list[str]:
    """Return the URLs in *urls* whose host is not a loopback address."""
    return [url for url in urls if urlsplit(url).scheme in ("http", "https", "ws", "wss")
            and (urlsplit(url).hostname or "") not in LOOPBACK]


def virtual_authenticator(context: BrowserContext, page: Page) -> tuple[CDPSession, str]:
    """Attach a CTAP2 platform authenticator that verifies the user, and return the session and its id."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})["authenticatorId"]
    return cdp, str(authenticator)


def console_password_step(page: Page, base: str, email: str, password: str) -> None:
    """Pass the console's password step; the page then shows the second-factor form."""
    page.goto(base + "/console/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()


def console_first_sign_in(page: Page, base: str, email: str, password: str) -> None:
    """Sign in to the console for the first time: password, then enroll TOTP with the key the page shows."""
    console_password_step(page, base, email, password)
    secret = page.locator("[data-totp-secret]").inner_text()
    page.get_by_label("6-digit code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/console/admin/")
