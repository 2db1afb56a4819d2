"""Applying and caching MTA-STS policies, against Knot DNS and an HTTPS policy server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from careseal.queue import mtasts
from careseal.queue.models import MtaStsPolicy
from careseal.transport import nexthop
from careseal.transport.nexthop import NextHop
from careseal.transport.tls import verified_context
from tests.support.dns import free_udp_tcp_port, zone
from tests.support.https import Reply, policy

pytestmark = pytest.mark.django_db(transaction=True)

PolicyDomain = Callable[..., tuple[str, int]]
GOOD = NextHop("mx.patient.test", 25, ("127.0.0.1",), "mx", 10)
SPOOFED = NextHop("mx.attacker.test", 25, ("127.0.0.1",), "mx", 20)


async def in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


def apply(server: tuple[str, int], ca_file: Path, hops: list[NextHop] | None = None) -> mtasts.Applied:
    return asyncio.run(mtasts.apply("patient.test", hops or [GOOD, SPOOFED],
                                    resolver=nexthop.make_resolver([server], 2.0),
                                    context=verified_context(ca_file), timeout=5.0, db=in_thread))


def test_enforce_keeps_listed_hosts_only(policy_domain: PolicyDomain, ca_file: Path) -> None:
    server = policy_domain(Reply(policy("enforce", "mx.patient.test")))

    applied = apply(server, ca_file)

    assert applied.hops == [GOOD]
    assert applied.rejected == ["mx.attacker.test"]
    assert applied.enforce
    assert applied.evidence == "enforce id=20261204 (fetched); rejected mx.attacker.test"
    assert MtaStsPolicy.objects.get(domain="patient.test").mx == ["mx.patient.test"]


def test_same_id_uses_cache(policy_domain: PolicyDomain, ca_file: Path) -> None:
    server = policy_domain(Reply(policy("enforce", "mx.patient.test")))
    apply(server, ca_file)

    applied = apply(server, ca_file, [GOOD])

    assert applied.evidence == "enforce id=20261204 (cached)"


def test_new_id_refetches(policy_domain: PolicyDomain, ca_file: Path) -> None:
    apply(policy_domain(Reply(policy("enforce", "mx.patient.test"))), ca_file)
    server = policy_domain(Reply(policy("testing", "mx.patient.test")), txt='"v=STSv1; id=20261205"')

    applied = apply(server, ca_file)

    assert applied.evidence == "testing id=20261205 (fetched); would reject mx.attacker.test"
    assert applied.hops == [GOOD, SPOOFED]
    assert not applied.enforce


def test_blocked_fetch_keeps_cached_policy(policy_domain: PolicyDomain, ca_file: Path) -> None:
    apply(policy_domain(Reply(policy("enforce", "mx.patient.test"))), ca_file)
    # The attacker changes the TXT id and makes the policy host return 404.
    server = policy_domain(Reply(b"", status=404), txt='"v=STSv1; id=attacker"')

    applied = apply(server, ca_file)

    assert applied.hops == [GOOD]
    assert applied.evidence.startswith("enforce id=20261204 (cached; new policy not fetched: ")


def test_removed_txt_keeps_cached_policy(policy_domain: PolicyDomain, dns_server: Callable[..., tuple[str, int]],
                                         ca_file: Path) -> None:
    apply(policy_domain(Reply(policy("enforce", "mx.patient.test"))), ca_file)
    server = dns_server({"patient.test": zone("patient.test", "mx A 127.0.0.1")})

    applied = apply(server, ca_file)

    assert applied.hops == [GOOD]
    assert applied.evidence == "enforce id=20261204 (cached; TXT record gone); rejected mx.attacker.test"


def test_dns_failure_keeps_cached_policy(policy_domain: PolicyDomain, ca_file: Path) -> None:
    apply(policy_domain(Reply(policy("enforce", "mx.patient.test"))), ca_file)
    dead = ("127.0.0.1", free_udp_tcp_port())

    applied = apply(dead, ca_file)

    assert applied.hops == [GOOD]
    assert applied.evidence.startswith("enforce id=20261204 (cached; TXT lookup for _mta-sts.patient.test failed")


def test_expired_cache_not_used(policy_domain: PolicyDomain, ca_file: Path) -> None:
    apply(policy_domain(Reply(policy("enforce", "mx.patient.test", max_age=0))), ca_file)
    server = policy_domain(Reply(b"", status=500))

    applied = apply(server, ca_file)

    assert applied.hops == [GOOD, SPOOFED]
    assert applied.evidence.startswith("none (policy id=20261204 not fetched: ")


def test_no_policy_changes_nothing(dns_server: Callable[..., tuple[str, int]], ca_file: Path) -> None:
    server = dns_server({"patient.test": zone("patient.test", "mx A 127.0.0.1")})

    applied = apply(server, ca_file)

    assert applied.hops == [GOOD, SPOOFED]
    assert applied.evidence == ""
    assert not applied.enforce


def test_mode_none_withdraws_policy(policy_domain: PolicyDomain, ca_file: Path) -> None:
    apply(policy_domain(Reply(policy("enforce", "mx.patient.test"))), ca_file)
    server = policy_domain(Reply(policy("none")), txt='"v=STSv1; id=withdrawn"')

    applied = apply(server, ca_file)

    assert applied.hops == [GOOD, SPOOFED]
    assert applied.evidence == "none id=withdrawn (fetched)"
