"""Hostile HTML mail opened in the portal in Chromium: nothing runs, nothing leaves loopback."""

from __future__ import annotations

import email
import email.policy
import re
import time
from pathlib import Path

import pytest
import trustme

from tests.support.browser import chromium, off_loopback
from tests.support.gateway import Gateway
from tests.support.sinks import Received, TLSSink

pytestmark = pytest.mark.e2e

# Attributes whose value is a URL a browser may fetch or navigate to.
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "background", "poster", "srcset")


def collect(sink: TLSSink, count: int, timeout: float = 30.0) -> list[Received]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(sink.messages) < count:
        time.sleep(0.1)
    return list(sink.messages)


def body(message: Received) -> str:
    parsed = email.message_from_bytes(message.content, policy=email.policy.default)
    return parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_hostile_html_inert(gateway_factory: object, ca: trustme.CA, case: object, tmp_path: Path) -> None:
    with TLSSink(ca, mode="none", hostname="127.0.0.1") as patient_mx:
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("example.test", "127.0.0.1", patient_mx.port)

        def edit(document: object) -> None:
            document["public_url"] = f"http://127.0.0.1:{gateway.web_port}"  # type: ignore[index]
            document["delivery"]["policy"] = "escrow"  # type: ignore[index]

        gateway.configure(edit)
        gateway.start()
        for name in ("html-xss.eml", "html-concatenation.eml"):
            (tmp_path / name).write_bytes(case(name))  # type: ignore[operator]
            gateway.cli("send", "--from", "lab@clinic.example.test", "--to", "patient@example.test",
                        str(tmp_path / name))
        notices = collect(patient_mx, 2)
        link = re.search(r"http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]+", body(notices[0])).group(0)  # type: ignore[union-attr]

        requests: list[str] = []
        dialogs: list[str] = []
        leftovers: list[str] = []
        with chromium() as browser:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(link)
            page.get_by_role("button", name="Send me a code").click()
            code_mail = [m for m in collect(patient_mx, 3) if b"/p/" not in m.content][0]
            page.get_by_label("6-digit code").fill(re.search(r"\b(\d{6})\b", body(code_mail)).group(1))  # type: ignore[union-attr]
            page.get_by_role("button", name="Confirm", exact=True).click()
            page.goto(f"http://127.0.0.1:{gateway.web_port}/messages/")
            message_links = [a.get_attribute("href") for a in page.locator("ul.inbox a").all()]

            frame_texts: list[str] = []
            for href in message_links:
                page.goto(f"http://127.0.0.1:{gateway.web_port}{href}")
                page.wait_for_load_state("networkidle")
                for frame in page.frames[1:]:
                    frame_texts.append(frame.evaluate("document.body.innerText"))
                    leftovers += frame.evaluate(
                        """(names) => {
                            const bad = [];
                            for (const el of document.querySelectorAll('*')) {
                                for (const attr of el.attributes) {
                                    const value = attr.value.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase();
                                    if (attr.name.startsWith('on')) bad.push(el.tagName + ' ' + attr.name);
                                    if (names.includes(attr.name) &&
                                        (value.startsWith('javascript:') || value.startsWith('data:')
                                         || value.startsWith('vbscript:'))) bad.push(el.tagName + ' ' + attr.value);
                                }
                                if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'FORM', 'SVG'].includes(el.tagName))
                                    bad.push(el.tagName);
                            }
                            return bad;
                        }""", list(URL_ATTRIBUTES))

    assert len(message_links) == 2
    assert dialogs == []
    assert leftovers == []
    assert off_loopback(requests) == []
    assert not [url for url in requests if "collector" in url]
    # Each part is its own document: the middle part's text is separate and
    # the dangling quote of the first part never swallows it into a URL.
    assert sorted(frame_texts) == sorted(["Hello", "HbA1c 7.9%, diagnosis E11.9", '">\n\nbye', "open also"])
