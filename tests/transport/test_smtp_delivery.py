"""Verified-TLS delivery against real SMTP servers on loopback, one per way a next hop can fail."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from careseal.transport import smtp
from careseal.transport.nexthop import NextHop
from careseal.transport.tls import verified_context
from tests.support.sinks import StrippingSink, TLSSink

MESSAGE = b"From: a@clinic.test\r\nTo: p@patient.test\r\nSubject: s\r\n\r\nresults attached\r\n"


def deliver(port: int, ca_file: Path | None, name: str = "mx.patient.test",
            addresses: tuple[str, ...] = ("127.0.0.1",), **envelope: object) -> smtp.DeliveryResult:
    hop = NextHop(name=name, port=port, addresses=addresses, source="mx", preference=10)
    env = smtp.Envelope(sender="a@clinic.test", recipient="p@patient.test", content=MESSAGE,
                        **envelope)  # type: ignore[arg-type]
    return asyncio.run(smtp.deliver(env, [hop], context=verified_context(ca_file),
                                    local_hostname="gateway.test", timeout=10))


def test_valid_certificate_delivers(ca: trustme.CA, ca_file: Path) -> None:
    with TLSSink(ca, mode="valid") as sink:
        result = deliver(sink.port, ca_file)

    assert result.outcome is smtp.Outcome.DELIVERED
    assert sink.messages[0].content == MESSAGE
    assert sink.messages[0].tls_version in ("TLSv1.2", "TLSv1.3")


def test_valid_delivery_records_evidence(ca: trustme.CA, ca_file: Path) -> None:
    with TLSSink(ca, mode="valid") as sink:
        result = deliver(sink.port, ca_file)
    last = result.last

    assert last is not None
    assert last.tls is not None
    assert last.cert_verified is True
    assert last.tls.version == "TLSv1.3"
    assert "O=trustme" in last.tls.cert_issuer
    assert len(last.tls.cert_fingerprint_sha256) == 64
    assert last.smtp_code == 250
    assert last.name == "mx.patient.test"


def test_route_by_ip_verifies_ip_certificate(ca: trustme.CA, ca_file: Path) -> None:
    with TLSSink(ca, mode="valid") as sink:
        result = deliver(sink.port, ca_file, name="127.0.0.1")

    assert result.outcome is smtp.Outcome.DELIVERED


def test_without_ca_file_system_store_rejects_test_ca(ca: trustme.CA) -> None:
    with TLSSink(ca, mode="valid") as sink:
        result = deliver(sink.port, None)

    assert result.outcome is smtp.Outcome.DEFERRED
    assert sink.messages == []


@pytest.mark.parametrize(("mode", "reason"), [
    ("none", "next hop does not offer STARTTLS"),
    ("self-signed", "certificate verification failed: self-signed certificate"),
    ("wrong-name", "certificate verification failed: Hostname mismatch"),
    ("tls1.0", "TLS handshake failed"),
])
def test_insecure_next_hop_defers(ca: trustme.CA, ca_file: Path, tmp_path: Path, mode: str, reason: str) -> None:
    with TLSSink(ca, mode=mode, tmp=tmp_path) as sink:
        result = deliver(sink.port, ca_file)

    assert result.outcome is smtp.Outcome.DEFERRED
    assert result.reason.startswith(reason)
    assert result.status_code == "4.7.5"
    assert sink.messages == []


def test_bad_certificate_recorded_unverified(ca: trustme.CA, ca_file: Path, tmp_path: Path) -> None:
    with TLSSink(ca, mode="wrong-name", tmp=tmp_path) as sink:
        result = deliver(sink.port, ca_file)

    assert result.last is not None
    assert result.last.cert_verified is False
    assert "mx.patient.test" in result.last.verify_error
    assert result.last.tls is not None
    assert "other.example.test" not in result.last.tls.cert_subject  # trustme puts names in the SAN only
    assert "O=trustme" in result.last.tls.cert_issuer
    assert len(result.last.tls.cert_fingerprint_sha256) == 64


def test_starttls_454_never_sends_in_clear(ca_file: Path) -> None:
    with StrippingSink() as sink:
        result = deliver(sink.port, ca_file)

    verbs = [command.split(" ", 1)[0].upper() for command in sink.commands]
    assert result.outcome is smtp.Outcome.DEFERRED
    assert result.reason == "STARTTLS rejected: 454 4.7.0 TLS not available due to temporary reason"
    assert "MAIL" not in verbs
    assert "DATA" not in verbs


def test_secure_second_hop_used_after_insecure_first(ca: trustme.CA, ca_file: Path) -> None:
    with StrippingSink() as stripped, TLSSink(ca, mode="valid") as good:
        hops = [NextHop("mx1.patient.test", stripped.port, ("127.0.0.1",), "mx", 10),
                NextHop("mx.patient.test", good.port, ("127.0.0.1",), "mx", 20)]
        env = smtp.Envelope(sender="a@clinic.test", recipient="p@patient.test", content=MESSAGE)
        result = asyncio.run(smtp.deliver(env, hops, context=verified_context(ca_file),
                                          local_hostname="gateway.test", timeout=10))

    assert result.outcome is smtp.Outcome.DELIVERED
    assert [hop.name for hop in result.hops] == ["mx1.patient.test", "mx.patient.test"]
    assert len(good.messages) == 1


def test_permanent_rejection_fails(ca: trustme.CA, ca_file: Path) -> None:
    with TLSSink(ca, mode="valid") as sink:
        sink.recorder.reply = "550 5.1.1 No such user"
        result = deliver(sink.port, ca_file)

    assert result.outcome is smtp.Outcome.FAILED
    assert result.status_code == "5.1.1"
    assert result.last is not None
    assert result.last.smtp_code == 550


def test_temporary_rejection_defers(ca: trustme.CA, ca_file: Path) -> None:
    with TLSSink(ca, mode="valid") as sink:
        sink.recorder.reply = "451 4.3.0 Try later"
        result = deliver(sink.port, ca_file)

    assert result.outcome is smtp.Outcome.DEFERRED
    assert result.status_code == "4.3.0"


def test_connection_refused_defers(ca_file: Path) -> None:
    from tests.support.sinks import free_port

    result = deliver(free_port(), ca_file)

    assert result.outcome is smtp.Outcome.DEFERRED
    assert result.reason.startswith("connection failed")


def test_self_signed_certificate_fingerprint_recorded(ca: trustme.CA, ca_file: Path, tmp_path: Path) -> None:
    with TLSSink(ca, mode="self-signed", tmp=tmp_path) as sink:
        result = deliver(sink.port, ca_file)
    presented = x509.load_pem_x509_certificate((tmp_path / "self.crt").read_bytes())
    expected = presented.fingerprint(hashes.SHA256()).hex()

    assert result.last is not None
    assert result.last.tls is not None
    assert result.last.tls.cert_fingerprint_sha256 == expected
    assert result.last.tls.cert_subject == "CN=mx.patient.test"
    assert sink.messages == []


def deliver_opportunistic(port: int, ca_file: Path) -> smtp.DeliveryResult:
    hop = NextHop(name="mx.patient.test", port=port, addresses=("127.0.0.1",), source="mx", preference=10)
    env = smtp.Envelope(sender="a@clinic.test", recipient="p@patient.test", content=MESSAGE)
    return asyncio.run(smtp.deliver(env, [hop], context=verified_context(ca_file), local_hostname="gateway.test",
                                    timeout=10, opportunistic=True))


def test_opportunistic_prefers_verified_tls(ca: trustme.CA, ca_file: Path) -> None:
    with TLSSink(ca, mode="valid") as sink:
        result = deliver_opportunistic(sink.port, ca_file)

    assert result.outcome is smtp.Outcome.DELIVERED
    assert result.last is not None
    assert result.last.tls_level == "verified"
    assert result.last.cert_verified is True


def test_opportunistic_encrypts_despite_bad_certificate(ca: trustme.CA, ca_file: Path, tmp_path: Path) -> None:
    with TLSSink(ca, mode="self-signed", tmp=tmp_path) as sink:
        result = deliver_opportunistic(sink.port, ca_file)

    assert result.outcome is smtp.Outcome.DELIVERED
    assert result.last is not None
    assert result.last.tls_level == "unverified"
    assert result.last.cert_verified is False
    assert sink.messages[0].tls_version in ("TLSv1.2", "TLSv1.3")


def test_opportunistic_plain_without_starttls(ca: trustme.CA, ca_file: Path) -> None:
    with TLSSink(ca, mode="none") as sink:
        result = deliver_opportunistic(sink.port, ca_file)

    assert result.outcome is smtp.Outcome.DELIVERED
    assert result.last is not None
    assert result.last.tls_level == "plain"
    assert sink.messages[0].tls_version is None


def test_opportunistic_plain_after_starttls_454(ca_file: Path) -> None:
    with StrippingSink() as sink:
        result = deliver_opportunistic(sink.port, ca_file)

    verbs = [command.split(" ", 1)[0].upper() for command in sink.commands]
    assert result.outcome is smtp.Outcome.DELIVERED
    assert "DATA" in verbs


def test_address_reparsed_differently_fails(ca: trustme.CA, ca_file: Path) -> None:
    with TLSSink(ca, mode="valid") as sink:
        hop = NextHop(name="mx.patient.test", port=sink.port, addresses=("127.0.0.1",), source="mx")
        env = smtp.Envelope(sender="a@clinic.test", recipient="x@b,c@patient.test", content=MESSAGE)
        result = asyncio.run(smtp.deliver(env, [hop], context=verified_context(ca_file),
                                          local_hostname="gateway.test", timeout=10))

    assert result.outcome is smtp.Outcome.FAILED
    assert result.status_code == "5.1.3"
    assert sink.messages == []
