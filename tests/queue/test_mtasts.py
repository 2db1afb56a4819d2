"""Applying and caching MTA-STS policies, against Knot DNS and an HTTPS policy server on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from django.utils import timezone

from careseal.queue import mtasts
from careseal.queue.models import MtaStsPolicy
from careseal.transport import nexthop
from careseal.transport.nexthop import NextHop
from careseal.transport.tls import verified_context
from tests.support.dns import free_udp_tcp_port, zone
from tests.support.https import PolicyServer, Reply, policy, silent_listener

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
    assert applied.evidence == "enforce id=20261204 (cached; new policy not fetched); rejected mx.attacker.test"


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
    assert applied.evidence == "enforce id=20261204 (cached; TXT lookup failed); rejected mx.attacker.test"


def test_expired_cache_not_used(policy_domain: PolicyDomain, ca_file: Path) -> None:
    apply(policy_domain(Reply(policy("enforce", "mx.patient.test", max_age=0))), ca_file)
    server = policy_domain(Reply(b"", status=500))

    applied = apply(server, ca_file)

    assert applied.hops == [GOOD, SPOOFED]
    assert applied.evidence == "unavailable (policy not fetched)"


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


def age_cache(days: int) -> None:
    MtaStsPolicy.objects.filter(domain="patient.test").update(
        fetched_at=timezone.now() - dt.timedelta(days=days))


def test_old_cache_refreshed(policy_domain: PolicyDomain, ca_file: Path) -> None:
    server = policy_domain(Reply(policy("enforce", "mx.patient.test", max_age=86400 * 7)))
    apply(server, ca_file)
    age_cache(2)
    expiry_before = MtaStsPolicy.objects.get(domain="patient.test").expires_at

    applied = apply(server, ca_file, [GOOD])

    assert applied.evidence == "enforce id=20261204 (refreshed)"
    assert MtaStsPolicy.objects.get(domain="patient.test").expires_at > expiry_before


def test_failed_refresh_keeps_cache(policy_domain: PolicyDomain, ca_file: Path) -> None:
    apply(policy_domain(Reply(policy("enforce", "mx.patient.test"))), ca_file)
    age_cache(2)
    server = policy_domain(Reply(b"", status=503))

    applied = apply(server, ca_file, [GOOD])

    assert applied.evidence == "enforce id=20261204 (cached; refresh failed)"
    assert applied.enforce


def test_failed_fetch_not_repeated_at_once(policy_domain: PolicyDomain, ca_file: Path) -> None:
    server_address = policy_domain(Reply(b"", status=500))
    first = apply(server_address, ca_file)

    second = apply(server_address, ca_file)

    assert first.evidence == second.evidence == "unavailable (policy not fetched)"
    assert mtasts._failed_until["patient.test"] > 0


def test_silent_policy_hosts_bounded_by_timeout(dns_server: Callable[..., tuple[str, int]], ca_file: Path) -> None:
    try:
        listeners = [silent_listener() for _ in range(3)]
    except PermissionError:
        pytest.skip("the silent listeners bind port 443, which needs root")
    addresses = [sock.getsockname()[0] for sock in listeners]
    server = dns_server({"patient.test": zone("patient.test", '_mta-sts TXT "v=STSv1; id=1"',
                                              *(f"mta-sts A {address}" for address in addresses))})
    started = time.monotonic()
    try:
        applied = asyncio.run(mtasts.apply("patient.test", [GOOD], resolver=nexthop.make_resolver([server], 2.0),
                                           context=verified_context(ca_file), timeout=1.0, db=in_thread))
    finally:
        for sock in listeners:
            sock.close()

    assert time.monotonic() - started < 2.5
    assert applied.evidence == "unavailable (policy not fetched)"


def test_unicode_domain_uses_a_label(dns_server: Callable[..., tuple[str, int]], ca: trustme.CA,
                                     ca_file: Path) -> None:
    with PolicyServer(ca, "mta-sts.xn--bcher-kva.test", Reply(policy("enforce", "mx.xn--bcher-kva.test"))) as host:
        server = dns_server({"xn--bcher-kva.test": zone(
            "xn--bcher-kva.test", '_mta-sts TXT "v=STSv1; id=1"', f"mta-sts A {host.address}")})
        applied = asyncio.run(mtasts.apply(
            "bücher.test", [NextHop("mx.xn--bcher-kva.test", 25, ("127.0.0.1",), "mx", 10)],
            resolver=nexthop.make_resolver([server], 2.0), context=verified_context(ca_file), timeout=5.0,
            db=in_thread))

    assert applied.evidence == "enforce id=1 (fetched)"
    assert list(MtaStsPolicy.objects.values_list("domain", flat=True)) == ["xn--bcher-kva.test"]


def test_overlong_domain_does_not_crash(dns_server: Callable[..., tuple[str, int]], ca_file: Path) -> None:
    domain = ".".join(["a" * 60] * 4) + ".test"  # 249 characters: _mta-sts. makes it too long for DNS
    server = dns_server({"patient.test": zone("patient.test", "mx A 127.0.0.1")})

    applied = asyncio.run(mtasts.apply(domain, [GOOD], resolver=nexthop.make_resolver([server], 2.0),
                                       context=verified_context(ca_file), timeout=5.0, db=in_thread))

    assert applied.hops == [GOOD]
    assert applied.evidence == "unavailable (TXT lookup failed)"


def test_short_lived_policy_refreshed_at_half_age(policy_domain: PolicyDomain,
                                                  dns_server: Callable[..., tuple[str, int]], ca_file: Path) -> None:
    server = policy_domain(Reply(policy("enforce", "mx.patient.test", max_age=600)))
    apply(server, ca_file)
    MtaStsPolicy.objects.filter(domain="patient.test").update(fetched_at=timezone.now() - dt.timedelta(seconds=301))

    refreshed = apply(server, ca_file, [GOOD])
    # Then the TXT record is stripped; the refreshed policy still applies.
    stripped = dns_server({"patient.test": zone("patient.test", "mx A 127.0.0.1")})
    later = apply(stripped, ca_file)

    assert refreshed.evidence == "enforce id=20261204 (refreshed)"
    assert later.enforce
    assert later.hops == [GOOD]


def test_concurrent_deliveries_share_one_fetch(policy_domain: PolicyDomain, ca_file: Path) -> None:
    server = policy_domain(Reply(policy("enforce", "mx.patient.test")))
    resolver = nexthop.make_resolver([server], 5.0)

    async def many() -> list[mtasts.Applied]:
        return await asyncio.gather(*(mtasts.apply("patient.test", [GOOD, SPOOFED], resolver=resolver,
                                                   context=verified_context(ca_file), timeout=5.0, db=in_thread)
                                      for _ in range(10)))

    results = asyncio.run(many())

    assert all(result.hops == [GOOD] for result in results)
    assert sum(result.evidence.startswith("enforce id=20261204 (fetched)") for result in results) == 1
