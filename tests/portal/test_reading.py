"""Reading an escrowed message: text, sanitized HTML, attachments and the secure reply."""

from __future__ import annotations

import email
import email.policy
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from careseal.queue import store
from careseal.queue.models import Message
from tests.portal.conftest import CLINICIAN, queue_and_escrow, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_message_page_shows_text(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)

    page = client.get(f"/messages/{pickup.escrow_id}").content.decode()

    assert "Lab results: HbA1c" in page
    assert "Your HbA1c is 6.1%." in page


def test_message_page_strict_csp(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)

    csp = client.get(f"/messages/{pickup.escrow_id}")["Content-Security-Policy"]

    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp


def test_html_part_sanitized_and_sandboxed(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)

    response = client.get(f"/messages/{pickup.escrow_id}/html/1")
    body = response.content.decode()

    assert "<script" not in body
    assert "onclick" not in body
    assert "tracker.example.test" not in body
    assert "<b>HbA1c</b>" in body
    assert "sandbox" in response["Content-Security-Policy"]
    assert "img-src 'none'" in response["Content-Security-Policy"]


def test_attachment_download_headers(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)

    response = client.get(f"/messages/{pickup.escrow_id}/attachments/2")

    assert response["Content-Disposition"].startswith('attachment; filename="results.pdf"')
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == b"%PDF-1.4\n"


def test_path_traversal_names_made_safe(client: Client, case: object) -> None:
    raw = case("attachment-path-traversal.eml")  # type: ignore[operator]
    pickup = queue_and_escrow(raw)
    sign_in(client, pickup)

    names = []
    for index in range(1, 8):
        disposition = client.get(f"/messages/{pickup.escrow_id}/attachments/{index}")["Content-Disposition"]
        names.append(disposition.split('filename="')[1].split('"')[0])

    assert names == ["passwd", "shadow", "C_WindowsSystem32configsam", "file_.txt", "attachment", "attachment",
                     "evil.pdf"]


def test_unknown_charset_shown_with_fallback(client: Client, case: object) -> None:
    raw = case("unknown-charset.eml")  # type: ignore[operator]
    pickup = queue_and_escrow(raw)
    sign_in(client, pickup)

    page = client.get(f"/messages/{pickup.escrow_id}").content.decode()

    assert "Café voucher enclosed." in page
    assert "could not be read" in page
    assert store.content(Message.objects.get(pk=Message.objects.get(kind="submitted").pk)) == raw


def test_reply_queued_to_clinician_threaded(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)
    upload = SimpleUploadedFile("glucose log.pdf", b"%PDF-1.4 log", content_type="application/pdf")

    response = client.post(f"/messages/{pickup.escrow_id}/reply", {"body": "Thank you, doctor.",
                                                                   "attachments": [upload]})

    reply_message = Message.objects.get(kind=Message.Kind.PORTAL)
    parsed = email.message_from_binary_file(BytesIO(store.content(reply_message)), policy=email.policy.default)
    attachment = next(parsed.iter_attachments())
    assert response.status_code == 302
    assert list(reply_message.deliveries.values_list("recipient", "policy")) == [(CLINICIAN, "verified-tls")]
    assert parsed["In-Reply-To"] == "<orig-1@clinic.test>"
    assert parsed["References"] == "<orig-1@clinic.test>"
    assert parsed["Subject"] == "Re: Lab results: HbA1c"
    assert parsed["Reply-To"] == "pat@patient.test"
    assert parsed.get_body(("plain",)).get_content().strip() == "Thank you, doctor."
    assert attachment.get_filename() == "glucose log.pdf"
    assert attachment.get_content() == b"%PDF-1.4 log"


def test_empty_reply_rejected(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)

    response = client.post(f"/messages/{pickup.escrow_id}/reply", {"body": ""})

    assert response.status_code == 400
    assert Message.objects.filter(kind=Message.Kind.PORTAL).count() == 0
