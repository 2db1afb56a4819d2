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

from playwright.sync_api import Browser, sync_playwright

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
