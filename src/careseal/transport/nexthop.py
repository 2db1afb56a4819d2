"""Find the next hops for a recipient domain.

A configured route wins. Otherwise the domain's MX records are used in
preference order, hosts of equal preference in random order (RFC 5321
section 5.1). Only where the domain has no MX records at all does its own
address serve as the implicit MX. A "null MX" (RFC 7505) means the domain
accepts no mail.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver


@dataclass(frozen=True)
class Route:
    """A configured next hop for a domain: host name or IP address, and port."""

    host: str
    port: int


@dataclass(frozen=True)
class NextHop:
    """A host to try: the name its certificate must match, and its addresses."""

    name: str
    port: int
    addresses: tuple[str, ...]
    source: str  # "route", "mx" or "implicit-mx"
    preference: int = 0


class ResolutionError(Exception):
    """No next hop was found. ``permanent`` is True when retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def make_resolver(nameservers: list[tuple[str, int]], timeout: float) -> dns.asyncresolver.Resolver:
    """Return a resolver for *nameservers*, or the system's resolver when the list is empty."""
    if not nameservers:
        resolver = dns.asyncresolver.Resolver()
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in nameservers]
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


async def resolve(domain: str, *, routes: dict[str, Route], port: int,
                  resolver: dns.asyncresolver.Resolver) -> list[NextHop]:
    """Return the next hops for *domain* in the order to try them.

    Raises :class:`ResolutionError`, permanent for a domain that does not
    exist or accepts no mail, temporary for DNS failures and timeouts.
    """
    domain = domain.lower().rstrip(".")
    route = routes.get(domain)
    if route is not None:
        addresses = await host_addresses(route.host, resolver)
        if not addresses:
            raise ResolutionError(f"route host {route.host} has no address", permanent=False)
        return [NextHop(route.host, route.port, addresses, "route")]

    try:
        answer = await resolver.resolve(domain, "MX")
    except dns.resolver.NXDOMAIN:
        raise ResolutionError(f"domain {domain} does not exist", permanent=True) from None
    except dns.resolver.NoAnswer:
        addresses = await host_addresses(domain, resolver)
        if not addresses:
            raise ResolutionError(f"domain {domain} has neither MX nor address records", permanent=True) from None
        return [NextHop(domain, port, addresses, "implicit-mx")]
    except (dns.name.NameTooLong, dns.name.EmptyLabel, dns.name.LabelTooLong):
        raise ResolutionError(f"domain {domain} is not a valid DNS name", permanent=True) from None
    except dns.exception.DNSException as error:
        raise ResolutionError(f"MX lookup for {domain} failed: {type(error).__name__}", permanent=False) from None

    records = sorted(answer, key=lambda r: (r.preference, random.random()))  # noqa: S311 (load spreading)
    if len(records) == 1 and records[0].exchange == dns.name.root:
        raise ResolutionError(f"domain {domain} accepts no mail (null MX)", permanent=True)

    hops: list[NextHop] = []
    for record in records:
        if record.exchange == dns.name.root:
            continue
        name = record.exchange.to_text(omit_final_dot=True).lower()
        addresses = await host_addresses(name, resolver)
        if addresses:
            hops.append(NextHop(name, port, addresses, "mx", record.preference))
    if not hops:
        raise ResolutionError(f"no MX host of {domain} has an address", permanent=False)
    return hops


async def host_addresses(host: str, resolver: dns.asyncresolver.Resolver) -> tuple[str, ...]:
    """Return the IPv4 and IPv6 addresses of *host* (or *host* itself if it is an address).

    Raises a temporary :class:`ResolutionError` when a lookup fails rather than finding nothing.
    """
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    found: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = await resolver.resolve(host, rdtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except dns.exception.DNSException as error:
            raise ResolutionError(f"{rdtype} lookup for {host} failed: {type(error).__name__}",
                                  permanent=False) from None
        found.extend(record.address for record in answer)
    return tuple(found)
