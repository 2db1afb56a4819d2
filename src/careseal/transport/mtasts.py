"""MTA-STS (RFC 8461): a recipient domain's published demand for verified TLS to listed MX hosts.

Without DNSSEC, anyone who can forge DNS answers can name their own host as
a domain's MX, with a valid certificate for that name. A domain that
publishes an MTA-STS policy lists its real MX hosts over HTTPS, so such a
host is rejected. This module discovers the policy's TXT record, fetches the
policy from ``https://mta-sts.DOMAIN/.well-known/mta-sts.txt`` and checks
MX names against it. Caching and applying the policy live with the caller.

Host names are resolved with the caller's resolver, the same one that found
the MX records, and the policy host's certificate is verified with the same
trust anchors as SMTP. Redirects are not followed (RFC 8461 section 3.3).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver
import h11

from careseal.transport import nexthop

WELL_KNOWN_PATH = "/.well-known/mta-sts.txt"
HTTPS_PORT = 443
MAX_POLICY_BYTES = 64 * 1024  # ample for any real policy; a larger body is rejected
MAX_AGE_LIMIT = 31_557_600  # one year, the RFC's upper bound for max_age
MODES = ("enforce", "testing", "none")
MAX_ADDRESSES = 4  # addresses of the policy host tried, in the order DNS gave them

_MAX_AGE = re.compile(r"^[0-9]{1,10}$")
_TXT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_MX_PATTERN = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class PolicyError(Exception):
    """No usable policy: the TXT record, the fetch or the policy text was invalid or failed."""


@dataclass(frozen=True)
class Policy:
    """A parsed policy: its mode, the MX host patterns it allows and how long it may be cached."""

    mode: str
    mx: tuple[str, ...]
    max_age: int

    def allows(self, host: str) -> bool:
        """Return True if *host* matches one of the policy's MX patterns (section 4.1)."""
        host = host.lower().rstrip(".")
        for pattern in self.mx:
            if pattern.startswith("*."):
                # A wildcard stands for exactly one leftmost label.
                label, _, rest = host.partition(".")
                if label and rest == pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False


def a_label(domain: str) -> str:
    """Return *domain* as its lowercase IDNA 2008 A-label, the one spelling used for DNS, HTTP and TLS.

    Python's ssl and the "idna" codec follow IDNA 2003, which spells some
    names differently (straße as strasse), so no Unicode name reaches them.
    Raises :class:`PolicyError` for a name that has no A-label.
    """
    try:
        return dns.name.from_unicode(domain, idna_codec=dns.name.IDNA_2008).to_text(omit_final_dot=True).lower()
    except (dns.exception.DNSException, UnicodeError) as error:
        raise PolicyError(f"domain {domain!r} has no valid IDNA form: {type(error).__name__}") from None


async def discover(domain: str, resolver: dns.asyncresolver.Resolver) -> str | None:
    """Return the policy id from ``_mta-sts.DOMAIN``'s TXT record, or None where there is no valid one.

    Raises :class:`PolicyError` for a DNS failure, which is not the same as
    an absent record: the caller keeps using a cached policy then.
    """
    domain = a_label(domain)
    try:
        answer = await resolver.resolve(f"_mta-sts.{domain}", "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    except dns.exception.DNSException as error:
        # Timeouts and server failures, and names too long to look up at all.
        raise PolicyError(f"TXT lookup for _mta-sts.{domain} failed: {type(error).__name__}") from None
    records = [b"".join(record.strings).decode("ascii", "replace") for record in answer]
    records = [record for record in records if record.startswith("v=STSv1;")]
    if len(records) != 1:
        return None  # none, or more than one: section 3.1 requires assuming no policy
    fields = {}
    for item in records[0].split(";"):
        key, _, value = item.strip().partition("=")
        if key:
            fields[key] = value
    policy_id = fields.get("id", "")
    return policy_id if _TXT_ID.match(policy_id) else None


def parse(text: str) -> Policy:
    """Parse a policy body (section 3.2); raise :class:`PolicyError` if it is not valid."""
    fields: dict[str, list[str]] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise PolicyError(f"policy line without a colon: {line[:80]!r}")
        fields.setdefault(key.strip(), []).append(value.strip())
    if fields.get("version") != ["STSv1"]:
        raise PolicyError(f"policy version must be STSv1, got {fields.get('version')}")
    mode = (fields.get("mode") or [""])[0]
    if mode not in MODES or len(fields["mode"]) != 1:
        raise PolicyError(f"policy mode must be one of {', '.join(MODES)}, got {fields.get('mode')}")
    ages = fields.get("max_age") or []
    if len(ages) != 1 or not _MAX_AGE.match(ages[0]):
        raise PolicyError(f"policy max_age must be one whole number of seconds, got {ages}")
    max_age = min(int(ages[0]), MAX_AGE_LIMIT)
    mx = tuple(pattern.lower().rstrip(".") for pattern in fields.get("mx", []))
    bad = [pattern for pattern in mx if not _MX_PATTERN.match(pattern)]
    if bad:
        raise PolicyError(f"invalid mx pattern {bad[0][:80]!r}")
    if mode != "none" and not mx:
        raise PolicyError(f"a {mode} policy must list at least one mx pattern")
    return Policy(mode=mode, mx=mx, max_age=max_age)


async def fetch(domain: str, *, resolver: dns.asyncresolver.Resolver, context: ssl.SSLContext,
                timeout: float) -> Policy:
    """Fetch and parse the policy of *domain*; raise :class:`PolicyError` on any failure.

    *timeout* bounds the whole fetch, lookups included, however many
    addresses the policy host has, so a slow or silent host cannot hold a
    delivery longer than that.
    """
    domain = a_label(domain)
    try:
        return await asyncio.wait_for(_fetch(domain, resolver, context), timeout)
    except TimeoutError:
        raise PolicyError(f"policy fetch from mta-sts.{domain} timed out after {timeout:g} s") from None


async def _fetch(domain: str, resolver: dns.asyncresolver.Resolver, context: ssl.SSLContext) -> Policy:
    host = f"mta-sts.{domain}"
    addresses = (await _addresses(host, resolver))[:MAX_ADDRESSES]
    if not addresses:
        raise PolicyError(f"policy host {host} has no address")
    failures: list[str] = []
    for address in addresses:
        try:
            body = await _get(host, address, context)
        except (OSError, ssl.SSLError, h11.ProtocolError, PolicyError) as error:
            failures.append(f"{address}: {_describe(error)}")
            continue
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError(f"policy from {host} is not UTF-8 text") from None
        return parse(text)
    raise PolicyError(f"policy fetch from {host} failed: {'; '.join(failures)}")


async def _get(host: str, address: str, context: ssl.SSLContext) -> bytes:
    """GET the policy path from *address*, verifying the certificate for *host*; return the 200 body."""
    reader, writer = await asyncio.open_connection(address, HTTPS_PORT, ssl=context, server_hostname=host)
    try:
        connection = h11.Connection(our_role=h11.CLIENT)
        request = h11.Request(method="GET", target=WELL_KNOWN_PATH, headers=[
            ("Host", host), ("User-Agent", "CareSeal MTA-STS"), ("Accept", "text/plain"),
            ("Connection", "close")])
        writer.write(connection.send(request) + connection.send(h11.EndOfMessage()))
        await writer.drain()
        body = bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(16384))
                continue
            if isinstance(event, h11.Response):
                if event.status_code != 200:
                    # 3xx included: a policy host must not redirect.
                    raise PolicyError(f"HTTP status {event.status_code}")
                headers = dict(event.headers)
                chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
                if b"content-length" not in headers and not chunked:
                    # A body that ends only when the connection closes could be cut short unnoticed.
                    raise PolicyError("response has neither Content-Length nor chunked encoding")
                content_type = headers.get(b"content-type", b"").decode("latin-1")
                if content_type.split(";")[0].strip().lower() != "text/plain":
                    raise PolicyError(f"content type {content_type or 'missing'}, expected text/plain")
            elif isinstance(event, h11.Data):
                body.extend(event.data)
                if len(body) > MAX_POLICY_BYTES:
                    raise PolicyError(f"policy larger than {MAX_POLICY_BYTES} bytes")
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                raise PolicyError("connection closed before the policy ended")
    finally:
        writer.close()


async def _addresses(host: str, resolver: dns.asyncresolver.Resolver) -> list[str]:
    try:
        return list(await nexthop.host_addresses(host, resolver))
    except nexthop.ResolutionError as error:
        raise PolicyError(error.reason) from None


def _describe(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate not verified: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed: {error.reason or error}"
    if isinstance(error, OSError):
        return f"connection failed: {error.strerror or error}"
    return str(error)
