"""A patient picks up an escrowed message in Chromium, in English and in Spanish, on real processes."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.e2e.test_delivery import lab_results_message, minimal_pdf
from tests.support.browser import chromium, off_loopback
from tests.support.gateway import ADMIN, Gateway
from tests.support.sinks import Received, TLSSink

pytestmark = pytest.mark.e2e

TEXT = {
    "en": {"confirm": "Confirm it is you", "send_code": "Send me a code", "code_label": "6-digit code",
           "confirm_button": "Confirm", "reply": "Reply securely", "reply_label": "Your reply",
           "attach_label": "Attach files (optional)", "send_reply": "Send reply",
           "sent": "Your reply was sent securely.", "notice_subject": "Secure message from Valley Clinic"},
    "es": {"confirm": "Confirme que es usted", "send_code": "Enviarme un código", "code_label": "Código de 6 dígitos",
           "confirm_button": "Confirmar", "reply": "Responder de forma segura", "reply_label": "Su respuesta",
           "attach_label": "Adjuntar archivos (opcional)", "send_reply": "Enviar respuesta",
           "sent": "Su respuesta se envió de forma segura.", "notice_subject": "Mensaje seguro de Valley Clinic"},
}


def wait_for(sink: TLSSink, predicate: object, timeout: float = 30.0) -> Received:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(sink.messages):
            if predicate(message):  # type: ignore[operator]
                return message
        time.sleep(0.1)
    raise AssertionError("expected mail did not arrive")


def text_of(message: Received) -> str:
    parsed = email.message_from_bytes(message.content, policy=email.policy.default)
    return parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def check_accessible(page: Page, axe: Axe, violations: dict[str, str]) -> None:
    results = axe.run(page)
    if results.violations_count:
        violations[page.url] = results.generate_report()


@pytest.fixture
def sinks(ca: trustme.CA) -> Iterator[tuple[TLSSink, TLSSink]]:
    """The patient's server has no STARTTLS (so escrow applies); the clinic's has verified TLS."""
    with TLSSink(ca, mode="none", hostname="127.0.0.1") as patient, \
            TLSSink(ca, mode="valid", hostname="127.0.0.1") as clinic:
        yield patient, clinic


@pytest.mark.parametrize("language", ["en", "es"])
def test_patient_picks_up_and_replies(gateway_factory: object, sinks: tuple[TLSSink, TLSSink], ca_file: Path,
                                      tmp_path: Path, language: str) -> None:
    patient_mx, clinic_mx = sinks
    words = TEXT[language]
    gateway: Gateway = gateway_factory()  # type: ignore[operator]
    gateway.route("patient.test", "127.0.0.1", patient_mx.port, ca_file)
    gateway.route("clinic.test", "127.0.0.1", clinic_mx.port)

    def edit(document: object) -> None:
        document["public_url"] = f"http://127.0.0.1:{gateway.web_port}"  # type: ignore[index]
        document["practice"]["name"] = "Valley Clinic"  # type: ignore[index]
        document["escrow"]["default_language"] = language  # type: ignore[index]
        document["contact"]["departments"]["Front desk"] = "admin@clinic.test"  # type: ignore[index]

    gateway.configure(edit)
    gateway.start()
    with gateway.smtp() as client:
        client.sendmail(ADMIN, ["pat@patient.test"], lab_results_message())

    notice = wait_for(patient_mx, lambda m: b"/p/" in m.content)
    notice_text = text_of(notice)
    link = re.search(r"http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]+", notice_text).group(0)  # type: ignore[union-attr]
    notice_subject = str(email.message_from_bytes(notice.content, policy=email.policy.default)["Subject"])

    requests: list[str] = []
    violations: dict[str, str] = {}
    axe = Axe()
    with chromium() as browser:
        context = browser.new_context(locale="en-US" if language == "en" else "es-ES",
                                      accept_downloads=True, viewport={"width": 360, "height": 800})
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

        page.goto(link)
        assert "/p/" not in page.url
        assert page.get_by_role("heading", name=words["confirm"]).is_visible()
        check_accessible(page, axe, violations)
        page.get_by_role("button", name=words["send_code"]).click()

        code_mail = wait_for(patient_mx, lambda m: re.search(rb"\b\d{6}\b", m.content) is not None
                             and b"/p/" not in m.content)
        code = re.search(r"\b(\d{6})\b", text_of(code_mail)).group(1)  # type: ignore[union-attr]
        check_accessible(page, axe, violations)
        page.get_by_label(words["code_label"]).fill(code)
        page.get_by_role("button", name=words["confirm_button"], exact=True).click()

        assert page.get_by_role("heading", name="Your lab results").is_visible()
        assert page.frame_locator("iframe.body-html").get_by_text("your results are attached").is_visible()
        check_accessible(page, axe, violations)
        with page.expect_download() as download_info:
            page.get_by_role("link", name="results.pdf").click()
        downloaded = Path(download_info.value.path()).read_bytes()

        page.get_by_role("link", name=words["reply"]).click()
        page.wait_for_url("**/reply")
        check_accessible(page, axe, violations)
        page.get_by_label(words["reply_label"]).fill("Thank you, see you Tuesday.")
        (tmp_path / "glucose.pdf").write_bytes(minimal_pdf())
        page.get_by_label(words["attach_label"]).set_input_files(str(tmp_path / "glucose.pdf"))
        page.get_by_role("button", name=words["send_reply"]).click()
        assert page.get_by_role("status").inner_text().strip() == words["sent"]

        # The other patient pages, for the accessibility check.
        base = link.split("/p/")[0]
        for path in ("/messages/", "/account/password", "/account/passkeys", "/contact", "/consent"):
            page.goto(base + path)
            check_accessible(page, axe, violations)
        page.goto(base + "/p/" + "x" * 32)
        check_accessible(page, axe, violations)
        page.context.clear_cookies()
        page.goto(base + "/")
        check_accessible(page, axe, violations)
        page.goto(base + "/contact")
        check_accessible(page, axe, violations)
        context.close()

    reply = wait_for(clinic_mx, lambda m: b"see you Tuesday" in m.content)
    parsed = email.message_from_bytes(reply.content, policy=email.policy.default)
    attachment = next(parsed.iter_attachments())

    assert notice_subject == words["notice_subject"]
    assert notice.tls_version is None  # the patient's server offers no TLS; the notice has no PHI
    assert b"Your lab results" not in notice.content
    assert downloaded == minimal_pdf()
    assert reply.tls_version in ("TLSv1.2", "TLSv1.3")
    assert reply.recipients == [ADMIN]
    assert parsed["In-Reply-To"] == "<lab-1@clinic.test>"
    assert attachment.get_filename() == "glucose.pdf"
    assert attachment.get_content() == minimal_pdf()
    assert dialogs == []
    assert off_loopback(requests) == []
    assert violations == {}
    for phi in ("Your lab results", "Dear patient", "results.pdf"):
        assert [url for url in requests if phi.replace(" ", "%20") in url or phi in url] == []
        assert phi.encode() not in notice.content
        assert phi.encode() not in code_mail.content
        assert phi not in gateway.log()
    # The patient's own address is in the To field of their notices, and nowhere else.
    assert [url for url in requests if "patient.test" in url] == []
    assert "pat@patient.test" not in gateway.log()
