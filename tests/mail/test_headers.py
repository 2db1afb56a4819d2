import pytest

from careseal.mail.addresses import address_hash, domain_of
from careseal.mail.fields import HeaderError, author_addresses
from careseal.mail.headers import add_submission_headers, header_names, remove_fields, split_message

RECEIVED = "Received: from client ([127.0.0.1])\r\n\tby gateway.test (CareSeal) with ESMTPSA id q1"


def test_split_message_keeps_separator_with_body() -> None:
    headers, body = split_message(b"A: 1\r\nB: 2\r\n\r\nbody\r\n")

    assert headers == b"A: 1\r\nB: 2\r\n"
    assert body == b"\r\nbody\r\n"


def test_header_names_skip_continuations() -> None:
    assert header_names(b"Subject: a\r\n b: c\r\nFrom: x\r\n") == {"subject", "from"}


def test_missing_message_id_and_date_added() -> None:
    raw = b"From: a@clinic.test\r\n\r\nbody\r\n"

    result, message_id = add_submission_headers(raw, hostname="gateway.test", received=RECEIVED)

    assert message_id.endswith("@gateway.test>")
    assert f"Message-ID: {message_id}\r\n".encode() in result
    assert b"\r\nDate: " in result
    assert result.startswith(RECEIVED.encode() + b"\r\n")
    assert result.endswith(raw)


def test_existing_message_id_kept() -> None:
    raw = b"Message-ID: <x@clinic.test>\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\n\r\nbody\r\n"

    result, message_id = add_submission_headers(raw, hostname="gateway.test", received=RECEIVED)

    assert message_id == ""
    assert result == RECEIVED.encode() + b"\r\n" + raw


def test_bcc_removed_with_continuations() -> None:
    raw = b"From: a@b.test\r\nBcc: x@y.test,\r\n z@w.test\r\nbcc:q@r.test\r\nTo: c@d.test\r\n\r\nBcc: in body\r\n"

    assert remove_fields(raw, "Bcc") == b"From: a@b.test\r\nTo: c@d.test\r\n\r\nBcc: in body\r\n"


def test_domain_of_lowercases_and_strips_dot() -> None:
    assert domain_of("Pat@Patient.TEST.") == "patient.test"


def test_domain_of_without_at_is_empty() -> None:
    assert domain_of("patient.test") == ""


def test_address_hash_is_keyed_and_case_blind() -> None:
    assert address_hash("Pat@patient.test", b"k1") == address_hash("pat@patient.test", b"k1")
    assert address_hash("pat@patient.test", b"k1") != address_hash("pat@patient.test", b"k2")
    assert "@" not in address_hash("pat@patient.test", b"k1")


def test_author_addresses_reads_address_list() -> None:
    headers = b'From: "Rivera, Dr." <rivera@clinic.test>, nurse@clinic.test\r\n'

    assert author_addresses(headers) == {"from": ["rivera@clinic.test", "nurse@clinic.test"]}


def test_author_addresses_unparsable_rejected() -> None:
    with pytest.raises(HeaderError):
        author_addresses(b"From: not an address\r\n")
