"""Next-hop resolution against a real authoritative DNS server (Knot DNS on loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from careseal.transport import nexthop
from careseal.transport.nexthop import NextHop, ResolutionError, Route
from tests.support.dns import free_udp_tcp_port, zone

DnsServer = Callable[[dict[str, str]], tuple[str, int]]

SMTP_PORT = 2525  # not 25, so the tests show that the port passed in reaches the hops
TIMEOUT = 5.0  # seconds; Knot on loopback replies in milliseconds
ROUNDS = 8  # resolutions; left in server order, all 8 would list mx1 first with probability about 1/256


def resolve(domain: str, server: tuple[str, int], *, routes: dict[str, Route] | None = None,
            timeout: float = TIMEOUT) -> list[NextHop]:
    resolver = nexthop.make_resolver([server], timeout)
    return asyncio.run(nexthop.resolve(domain, routes=routes or {}, port=SMTP_PORT, resolver=resolver))


class FailingResolver:
    """A resolver stand-in that fails the test on any query."""

    async def resolve(self, qname: object, rdtype: object = "A", *args: object, **kwargs: object) -> None:
        raise AssertionError(f"unexpected DNS query: {qname} {rdtype}")


def test_resolve_mx_in_preference_order(dns_server: DnsServer) -> None:
    server = dns_server({"clinic.test": zone(
        "clinic.test",
        "@ MX 20 mx2",
        "@ MX 10 mx1",
        "mx1 A 127.0.0.11",
        "mx2 A 127.0.0.12",
    )})

    # Knot rotates the MX records by query ID, so some of these answers list mx2 first.
    results = [resolve("clinic.test", server) for _ in range(ROUNDS)]
    hops = results[0]

    assert [[hop.name for hop in result] for result in results] == [["mx1.clinic.test", "mx2.clinic.test"]] * ROUNDS
    assert [hop.addresses for hop in hops] == [("127.0.0.11",), ("127.0.0.12",)]
    assert [hop.preference for hop in hops] == [10, 20]
    assert [hop.source for hop in hops] == ["mx", "mx"]
    assert [hop.port for hop in hops] == [SMTP_PORT, SMTP_PORT]


def test_resolve_implicit_mx(dns_server: DnsServer) -> None:
    server = dns_server({"clinic.test": zone("clinic.test", "@ A 127.0.0.10")})

    hops = resolve("clinic.test", server)

    assert hops == [NextHop("clinic.test", SMTP_PORT, ("127.0.0.10",), "implicit-mx")]


def test_resolve_null_mx_is_permanent(dns_server: DnsServer) -> None:
    server = dns_server({"clinic.test": zone("clinic.test", "@ MX 0 .", "@ A 127.0.0.10")})

    with pytest.raises(ResolutionError) as raised:
        resolve("clinic.test", server)

    assert raised.value.permanent is True
    assert "null MX" in raised.value.reason


def test_resolve_nxdomain_is_permanent(dns_server: DnsServer) -> None:
    server = dns_server({"clinic.test": zone("clinic.test", "@ MX 10 mx1", "mx1 A 127.0.0.11")})

    with pytest.raises(ResolutionError) as raised:
        resolve("gone.clinic.test", server)

    assert raised.value.permanent is True
    assert "does not exist" in raised.value.reason


def test_resolve_route_with_ip_skips_dns() -> None:
    routes = {"clinic.test": Route("127.0.0.30", 2526)}

    hops = asyncio.run(nexthop.resolve("clinic.test", routes=routes, port=SMTP_PORT,
                                       resolver=FailingResolver()))  # type: ignore[arg-type]

    assert hops == [NextHop("127.0.0.30", 2526, ("127.0.0.30",), "route")]


def test_resolve_route_host_through_dns(dns_server: DnsServer) -> None:
    server = dns_server({"clinic.test": zone(
        "clinic.test",
        "@ MX 10 mx1",
        "mx1 A 127.0.0.11",
        "relay A 127.0.0.20",
    )})
    routes = {"hospital.test": Route("relay.clinic.test", 2526)}

    hops = resolve("hospital.test", server, routes=routes)

    assert hops == [NextHop("relay.clinic.test", 2526, ("127.0.0.20",), "route")]


def test_resolve_skips_mx_host_without_address(dns_server: DnsServer) -> None:
    server = dns_server({"clinic.test": zone(
        "clinic.test",
        "@ MX 10 mx1",
        "@ MX 20 mx2",
        'mx1 TXT "no address records here"',
        "mx2 A 127.0.0.12",
    )})

    hops = resolve("clinic.test", server)

    assert hops == [NextHop("mx2.clinic.test", SMTP_PORT, ("127.0.0.12",), "mx", 20)]


def test_resolve_unreachable_server_is_temporary() -> None:
    silent = ("127.0.0.1", free_udp_tcp_port())

    with pytest.raises(ResolutionError) as raised:
        resolve("clinic.test", silent, timeout=1.0)

    assert raised.value.permanent is False


def test_overlong_domain_fails_permanently(dns_server: DnsServer) -> None:
    server = dns_server({"clinic.test": zone("clinic.test", "mx1 A 127.0.0.11")})
    domain = ".".join(["a" * 63] * 4) + ".test"

    with pytest.raises(ResolutionError) as raised:
        resolve(domain, server)

    assert raised.value.permanent
    assert "not a valid DNS name" in raised.value.reason
