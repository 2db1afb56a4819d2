"""MTA-STS discovery, fetch and parsing against Knot DNS and an HTTPS server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from careseal.transport import mtasts, nexthop
from careseal.transport.tls import verified_context
from tests.support.dns import zone
from tests.support.https import Reply, policy

DnsServer = Callable[[dict[str, str]], tuple[str, int]]


def fetch(server: tuple[str, int], ca_file: Path | None) -> mtasts.Policy:
    resolver = nexthop.make_resolver([server], 5.0)
    return asyncio.run(mtasts.fetch("patient.test", resolver=resolver, context=verified_context(ca_file),
                                    timeout=5.0))


def discover(server: tuple[str, int]) -> str | None:
    return asyncio.run(mtasts.discover("patient.test", nexthop.make_resolver([server], 5.0)))


def test_policy_fetched_and_parsed(policy_domain: Callable[..., tuple[str, int]], ca_file: Path) -> None:
    server = policy_domain(Reply(policy("enforce", "mx.patient.test", "*.backup.patient.test")))

    fetched = fetch(server, ca_file)

    assert fetched == mtasts.Policy(mode="enforce", mx=("mx.patient.test", "*.backup.patient.test"), max_age=86400)
    assert discover(server) == "20261204"


@pytest.mark.parametrize(("reply", "problem"), [
    pytest.param(Reply(b"", status=301, headers={"Location": "https://elsewhere.test/"}), "HTTP status 301",
                 id="redirect-not-followed"),
    pytest.param(Reply(b"", status=404), "HTTP status 404", id="not-found"),
    pytest.param(Reply(policy("enforce", "mx.patient.test"), content_type="text/html"), "content type text/html",
                 id="wrong-content-type"),
    pytest.param(Reply(b"version: STSv1\r\n" + b"mx: a.patient.test\r\n" * 5000), "larger than 65536 bytes",
                 id="oversized"),
    pytest.param(Reply(b"\xff\xfe not text"), "not UTF-8", id="not-utf8"),
])
def test_bad_responses_rejected(policy_domain: Callable[..., tuple[str, int]], ca_file: Path, reply: Reply,
                                problem: str) -> None:
    server = policy_domain(reply)

    with pytest.raises(mtasts.PolicyError, match=problem):
        fetch(server, ca_file)


def test_certificate_for_other_name_rejected(policy_domain: Callable[..., tuple[str, int]], ca_file: Path) -> None:
    server = policy_domain(Reply(policy("enforce", "mx.patient.test")), name="mta-sts.attacker.test")

    with pytest.raises(mtasts.PolicyError, match="certificate not verified"):
        fetch(server, ca_file)


def test_untrusted_ca_rejected(policy_domain: Callable[..., tuple[str, int]]) -> None:
    server = policy_domain(Reply(policy("enforce", "mx.patient.test")))

    with pytest.raises(mtasts.PolicyError, match="certificate not verified"):
        fetch(server, None)


@pytest.mark.parametrize(("txt", "expected"), [
    pytest.param('"v=STSv1; id=20261204;"', "20261204", id="trailing-semicolon"),
    pytest.param('"v=STSv1;" " id=abc123"', "abc123", id="split-strings"),
    pytest.param('"v=STSv1; id=has-hyphen"', None, id="invalid-id"),
    pytest.param('"v=STSv1; id=' + "a" * 33 + '"', None, id="id-too-long"),
    pytest.param('"v=STSv2; id=1"', None, id="other-version"),
])
def test_txt_record_parsing(dns_server: DnsServer, txt: str, expected: str | None) -> None:
    server = dns_server({"patient.test": zone("patient.test", f"_mta-sts TXT {txt}")})

    assert discover(server) == expected


def test_two_txt_records_mean_no_policy(dns_server: DnsServer) -> None:
    server = dns_server({"patient.test": zone(
        "patient.test", '_mta-sts TXT "v=STSv1; id=1"', '_mta-sts TXT "v=STSv1; id=2"')})

    assert discover(server) is None


def test_no_txt_record_means_no_policy(dns_server: DnsServer) -> None:
    assert discover(dns_server({"patient.test": zone("patient.test", "mx A 127.0.0.1")})) is None


@pytest.mark.parametrize(("text", "problem"), [
    pytest.param("mode: enforce\nmx: a.test\nmax_age: 10\n", "version must be STSv1", id="no-version"),
    pytest.param("version: STSv1\nmode: strict\nmx: a.test\nmax_age: 10\n", "mode must be", id="bad-mode"),
    pytest.param("version: STSv1\nmode: enforce\nmode: none\nmx: a.test\nmax_age: 10\n", "mode must be",
                 id="two-modes"),
    pytest.param("version: STSv1\nmode: enforce\nmx: a.test\n", "max_age", id="no-max-age"),
    pytest.param("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -5\n", "max_age", id="negative-max-age"),
    pytest.param("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 99999999999\n", "max_age",
                 id="max-age-eleven-digits"),
    pytest.param("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: \u00b2\n", "max_age",
                 id="max-age-superscript-digit"),
    pytest.param("version: STSv1\nmode: enforce\nmax_age: 10\n", "at least one mx", id="enforce-without-mx"),
    pytest.param("version: STSv1\nmode: enforce\nmx: *.*.a.test\nmax_age: 10\n", "invalid mx", id="double-wildcard"),
    pytest.param("version: STSv1\nmode: enforce\nmx: a .test\nmax_age: 10\n", "invalid mx", id="space-in-mx"),
    pytest.param("version: STSv1\nnonsense\n", "without a colon", id="no-colon"),
])
def test_invalid_policies_rejected(text: str, problem: str) -> None:
    with pytest.raises(mtasts.PolicyError, match=problem):
        mtasts.parse(text)


def test_max_age_capped_at_one_year() -> None:
    assert mtasts.parse("version: STSv1\nmode: none\nmax_age: 9999999999\n").max_age == mtasts.MAX_AGE_LIMIT


def test_unknown_fields_ignored() -> None:
    parsed = mtasts.parse("version: STSv1\nmode: testing\nmx: MX.Patient.TEST.\nmax_age: 600\nfuture: x\n")

    assert parsed == mtasts.Policy(mode="testing", mx=("mx.patient.test",), max_age=600)


@pytest.mark.parametrize(("host", "allowed"), [
    ("mx.patient.test", True),
    ("MX.PATIENT.TEST.", True),
    ("mx1.backup.patient.test", True),
    ("a.b.backup.patient.test", False),
    ("backup.patient.test", False),
    ("mx.attacker.test", False),
    ("mx.patient.test.attacker.test", False),
])
def test_mx_matching(host: str, allowed: bool) -> None:
    parsed = mtasts.Policy(mode="enforce", mx=("mx.patient.test", "*.backup.patient.test"), max_age=60)

    assert parsed.allows(host) is allowed


def test_body_without_length_rejected(policy_domain: Callable[..., tuple[str, int]], ca_file: Path) -> None:
    server = policy_domain(Reply(policy("enforce", "mx.patient.test"), content_length=False))

    with pytest.raises(mtasts.PolicyError, match="neither Content-Length nor chunked"):
        fetch(server, ca_file)
