"""The pickup link, one-time code, lockout and session rules of the portal."""

from __future__ import annotations

import pytest
from django.test import Client

from careseal.portal import identity
from careseal.queue import store
from careseal.queue.models import Message
from tests.portal.conftest import PATIENT, latest_code, queue_and_escrow, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_pickup_token_has_128_bits_or_more(lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)

    assert len(pickup.token) * 6 >= 128


def test_pickup_link_redirects_without_token(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)

    response = client.get(pickup.link)

    assert response.status_code == 302
    assert response["Location"] == "/pickup"
    assert pickup.token not in response["Location"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_pickup_link_survives_scanner_fetch(lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    Client().get(pickup.link)  # a mail security scanner, in a session of its own

    response = Client().get(pickup.link)

    assert response.status_code == 302
    assert Message.objects.filter(kind=Message.Kind.CODE).count() == 0


def test_unknown_token_not_found(client: Client) -> None:
    response = client.get("/p/" + "A" * 32)

    assert response.status_code == 404
    assert response["Referrer-Policy"] == "no-referrer"


def test_code_mail_holds_no_phi(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    client.get(pickup.link)

    client.post("/pickup/code")

    code_message = Message.objects.get(kind=Message.Kind.CODE)
    mail = store.content(code_message)
    assert b"HbA1c" not in mail
    assert b"Lab results" not in mail
    assert b"Auto-Submitted: auto-generated" in mail
    assert code_message.deliveries.get().policy == "opportunistic"


def test_notice_holds_no_phi(lab_message: bytes) -> None:
    queue_and_escrow(lab_message)

    notice = store.content(Message.objects.get(kind=Message.Kind.NOTICE))

    assert b"HbA1c" not in notice
    assert b"Lab results" not in notice
    assert b"Rivera" not in notice
    assert b"DKIM-Signature:" in notice
    assert b"Auto-Submitted: auto-generated" in notice


def test_right_code_opens_message(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    client.get(pickup.link)
    client.post("/pickup/code")

    response = client.post("/verify", {"code": latest_code()})

    assert response.status_code == 302
    assert response["Location"] == f"/messages/{pickup.escrow_id}"


def test_wrong_code_rejected(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    client.get(pickup.link)
    client.post("/pickup/code")
    wrong = "000000" if latest_code() != "000000" else "111111"

    response = client.post("/verify", {"code": wrong})

    assert response.status_code == 400
    assert "address" not in client.session


def test_code_single_use(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    client.get(pickup.link)
    client.post("/pickup/code")
    code = latest_code()
    client.post("/verify", {"code": code})

    assert identity.check_code(PATIENT, code) is identity.CheckResult.EXPIRED


def test_sixth_code_in_hour_refused(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    client.get(pickup.link)
    statuses = [client.post("/pickup/code").status_code for _ in range(6)]

    assert statuses == [302] * 5 + [429]


def test_repeated_failures_lock_address(lab_message: bytes) -> None:
    queue_and_escrow(lab_message)
    identity.send_code(PATIENT, "en")
    results = [identity.check_code(PATIENT, "999999" if n % 2 else "888888") for n in range(10)]
    identity.send_code(PATIENT, "en")

    assert results[-1] is identity.CheckResult.LOCKED
    assert identity.check_code(PATIENT, latest_code()) is identity.CheckResult.LOCKED


def test_message_of_other_address_not_found(client: Client, lab_message: bytes) -> None:
    mine = queue_and_escrow(lab_message)
    other = queue_and_escrow(lab_message, recipient="someone@else.test")
    sign_in(client, mine)

    assert client.get(f"/messages/{other.escrow_id}").status_code == 404


def test_pages_not_cached(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    sign_in(client, pickup)

    for path in ("/", "/pickup", f"/messages/{pickup.escrow_id}", "/messages/"):
        assert client.get(path)["Cache-Control"] == "no-store", path


@pytest.mark.parametrize("next_url", ["/\\other.example.test", "//other.example.test", "https://other.example.test/"])
def test_next_parameter_stays_on_site(client: Client, lab_message: bytes, next_url: str) -> None:
    pickup = queue_and_escrow(lab_message)
    client.get(pickup.link)
    client.post("/pickup/code")

    response = client.post(f"/verify?next={next_url}", {"code": latest_code()})

    assert response["Location"] == f"/messages/{pickup.escrow_id}"


def test_encoded_next_parameter_stays_on_site(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    client.get(pickup.link)
    client.post("/pickup/code")

    response = client.post("/verify?next=%2F%5Cother.example.test", {"code": latest_code()})

    assert response["Location"] == f"/messages/{pickup.escrow_id}"


def test_language_switch_to_spanish(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)
    client.get(pickup.link)

    client.post("/language", {"language": "es", "next": "/pickup"})
    page = client.get("/pickup").content.decode()

    assert "Confirme que es usted" in page
    assert 'lang="es"' in page


def test_language_choice_remembered_for_notices(client: Client, lab_message: bytes) -> None:
    sign_in(client, queue_and_escrow(lab_message))

    client.post("/language", {"language": "es", "next": "/messages/"})
    queue_and_escrow(lab_message)

    notice = store.content(Message.objects.filter(kind=Message.Kind.NOTICE).latest("created_at"))
    assert b"Subject: Mensaje seguro de " in notice


def test_session_renewed_at_most_each_minute(client: Client, lab_message: bytes) -> None:
    sign_in(client, queue_and_escrow(lab_message))
    client.get("/messages/")

    soon = client.get("/messages/")
    session = client.session
    session["_touched"] = 0
    session.save()
    later = client.get("/messages/")

    assert "sessionid" not in soon.cookies
    assert "sessionid" in later.cookies


def test_session_idle_limit_thirty_minutes(client: Client, lab_message: bytes) -> None:
    pickup = queue_and_escrow(lab_message)

    response = client.get(pickup.link)

    assert client.session.get_expiry_age() == 1800
    assert response.cookies["sessionid"]["max-age"] == ""  # and gone when the browser closes
