"""Apply a recipient domain's MTA-STS policy to its MX next hops, with the policy cache in the database.

RFC 8461 section 5.1: a policy is fetched again when the TXT record's id
changes. An unexpired cached policy still applies when the TXT lookup or
the HTTPS fetch fails, so an attacker who blocks either gains nothing once
a policy has been seen. In ``enforce`` mode only MX hosts the policy
lists are tried, and only over verified TLS. ``testing`` mode changes
nothing but the evidence, and ``none`` withdraws the policy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import dns.asyncresolver
from django.utils import timezone

from careseal.queue.models import MtaStsPolicy
from careseal.transport import mtasts
from careseal.transport.nexthop import NextHop

log = logging.getLogger("careseal.delivery")

RunInDatabase = Callable[..., Awaitable[Any]]

# A cached policy in use is fetched again after this long, or after half its max_age if that is
# sooner (RFC 8461 section 5.1 recommends refreshing a policy in use before it expires).
REFRESH_AFTER = dt.timedelta(days=1)
# Seconds this process waits after a failed fetch before fetching from that domain again, so
# every delivery to a domain with a broken or slow policy host does not pay the fetch timeout.
FAILURE_BACKOFF = 300.0
_failed_until: dict[str, float] = {}


@dataclass
class Applied:
    """Next hops after the policy, and what to record about it."""

    hops: list[NextHop]
    evidence: str = ""
    enforce: bool = False
    rejected: list[str] = field(default_factory=list)  # MX hosts an enforce policy does not list


async def apply(domain: str, hops: list[NextHop], *, resolver: dns.asyncresolver.Resolver,
                context: ssl.SSLContext, timeout: float, db: RunInDatabase) -> Applied:
    """Return *hops* as *domain*'s MTA-STS policy allows them, fetching or reusing the policy."""
    try:
        name = mtasts.a_label(domain)
    except mtasts.PolicyError:
        return Applied(hops)
    # One policy step per domain at a time in this process, so concurrent deliveries share one fetch.
    async with _lock_for(name):
        policy, evidence = await _policy(name, resolver=resolver, context=context, timeout=timeout, db=db)
    if policy is None or policy.mode == "none":
        return Applied(hops, evidence)
    unlisted = [hop.name for hop in hops if not policy.allows(hop.name)]
    if policy.mode == "testing":
        if unlisted:
            evidence += f"; would reject {', '.join(unlisted)}"
        return Applied(hops, evidence)
    allowed = [hop for hop in hops if policy.allows(hop.name)]
    if unlisted:
        evidence += f"; rejected {', '.join(unlisted)}"
        log.warning("MTA-STS rejected MX hosts domain=%s hosts=%s", name, ",".join(unlisted))
    return Applied(allowed, evidence, enforce=True, rejected=unlisted)


async def _policy(domain: str, *, resolver: dns.asyncresolver.Resolver, context: ssl.SSLContext,
                  timeout: float, db: RunInDatabase) -> tuple[mtasts.Policy | None, str]:
    """Return the policy to apply and a short note on where it came from; details of failures are logged."""
    cached: MtaStsPolicy | None = await db(_cached, domain)
    try:
        policy_id = await mtasts.discover(domain, resolver)
    except mtasts.PolicyError as error:
        log.warning("MTA-STS TXT lookup failed domain=%s: %s", domain, error)
        if cached is not None:
            return _from_row(cached), f"{cached.mode} id={cached.policy_id} (cached; TXT lookup failed)"
        return None, "unavailable (TXT lookup failed)"
    if policy_id is None and cached is None:
        return None, ""
    if cached is not None and policy_id in (None, cached.policy_id):
        note = "cached" if policy_id else "cached; TXT record gone"
        refresh_after = min(REFRESH_AFTER, dt.timedelta(seconds=cached.max_age / 2))
        if timezone.now() - cached.fetched_at < refresh_after:
            return _from_row(cached), f"{cached.mode} id={cached.policy_id} ({note})"
        # Refreshed while still cached, so a policy in use does not lapse at first fetch plus max_age.
        refreshed = await _fetch(domain, cached.policy_id, resolver=resolver, context=context, timeout=timeout,
                                 db=db)
        if refreshed is None:
            return _from_row(cached), f"{cached.mode} id={cached.policy_id} ({note}; refresh failed)"
        return refreshed, f"{refreshed.mode} id={cached.policy_id} (refreshed)"
    assert policy_id is not None
    fetched = await _fetch(domain, policy_id, resolver=resolver, context=context, timeout=timeout, db=db)
    if fetched is None:
        if cached is not None:
            return _from_row(cached), f"{cached.mode} id={cached.policy_id} (cached; new policy not fetched)"
        return None, "unavailable (policy not fetched)"
    return fetched, f"{fetched.mode} id={policy_id} (fetched)"


async def _fetch(domain: str, policy_id: str, *, resolver: dns.asyncresolver.Resolver, context: ssl.SSLContext,
                 timeout: float, db: RunInDatabase) -> mtasts.Policy | None:
    """Fetch and store the policy, or return None; a failure is not retried for a while in this process."""
    if _failed_until.get(domain, 0.0) > time.monotonic():
        return None
    try:
        policy = await mtasts.fetch(domain, resolver=resolver, context=context, timeout=timeout)
    except mtasts.PolicyError as error:
        _failed_until[domain] = time.monotonic() + FAILURE_BACKOFF
        log.warning("MTA-STS policy fetch failed domain=%s id=%s: %s", domain, policy_id, error)
        return None
    _failed_until.pop(domain, None)
    await db(_store, domain, policy_id, policy)
    log.info("MTA-STS policy fetched domain=%s id=%s mode=%s", domain, policy_id, policy.mode)
    return policy


_locks: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}


def _lock_for(domain: str) -> asyncio.Lock:
    """Return this event loop's lock for *domain*; a lock is bound to the loop that first waits on it."""
    loop = asyncio.get_running_loop()
    entry = _locks.get(domain)
    if entry is None or entry[0] is not loop:
        entry = (loop, asyncio.Lock())
        _locks[domain] = entry
    return entry[1]


def _cached(domain: str) -> MtaStsPolicy | None:
    return MtaStsPolicy.objects.filter(domain=domain, expires_at__gt=timezone.now()).first()


def _store(domain: str, policy_id: str, policy: mtasts.Policy) -> None:
    now = timezone.now()
    MtaStsPolicy.objects.update_or_create(domain=domain, defaults={
        "policy_id": policy_id, "mode": policy.mode, "mx": list(policy.mx), "max_age": policy.max_age,
        "fetched_at": now, "expires_at": now + dt.timedelta(seconds=policy.max_age)})


def _from_row(row: MtaStsPolicy) -> mtasts.Policy:
    return mtasts.Policy(mode=row.mode, mx=tuple(row.mx), max_age=row.max_age)
