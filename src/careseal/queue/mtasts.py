"""Apply a recipient domain's MTA-STS policy to its MX next hops, with the policy cache in the database.

RFC 8461 section 5.1: a policy is fetched again when the TXT record's id
changes. An unexpired cached policy still applies when the TXT lookup or
the HTTPS fetch fails, so an attacker who blocks either gains nothing once
a policy has been seen. In ``enforce`` mode only MX hosts the policy
lists are tried, and only over verified TLS. ``testing`` mode changes
nothing but the evidence, and ``none`` withdraws the policy.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
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
    policy, evidence = await _policy(domain, resolver=resolver, context=context, timeout=timeout, db=db)
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
        log.warning("MTA-STS rejected MX hosts domain=%s hosts=%s", domain, ",".join(unlisted))
    return Applied(allowed, evidence, enforce=True, rejected=unlisted)


async def _policy(domain: str, *, resolver: dns.asyncresolver.Resolver, context: ssl.SSLContext,
                  timeout: float, db: RunInDatabase) -> tuple[mtasts.Policy | None, str]:
    cached: MtaStsPolicy | None = await db(_cached, domain)
    try:
        policy_id = await mtasts.discover(domain, resolver)
    except mtasts.PolicyError as error:
        if cached is not None:
            return _from_row(cached), f"{cached.mode} id={cached.policy_id} (cached; {error})"
        return None, f"none ({error})"
    if policy_id is None:
        if cached is not None:
            return _from_row(cached), f"{cached.mode} id={cached.policy_id} (cached; TXT record gone)"
        return None, ""
    if cached is not None and cached.policy_id == policy_id:
        return _from_row(cached), f"{cached.mode} id={policy_id} (cached)"
    try:
        policy = await mtasts.fetch(domain, resolver=resolver, context=context, timeout=timeout)
    except mtasts.PolicyError as error:
        log.warning("MTA-STS policy fetch failed domain=%s: %s", domain, error)
        if cached is not None:
            return _from_row(cached), f"{cached.mode} id={cached.policy_id} (cached; new policy not fetched: {error})"
        return None, f"none (policy id={policy_id} not fetched: {error})"
    await db(_store, domain, policy_id, policy)
    log.info("MTA-STS policy fetched domain=%s id=%s mode=%s", domain, policy_id, policy.mode)
    return policy, f"{policy.mode} id={policy_id} (fetched)"


def _cached(domain: str) -> MtaStsPolicy | None:
    return MtaStsPolicy.objects.filter(domain=domain, expires_at__gt=timezone.now()).first()


def _store(domain: str, policy_id: str, policy: mtasts.Policy) -> None:
    now = timezone.now()
    MtaStsPolicy.objects.update_or_create(domain=domain, defaults={
        "policy_id": policy_id, "mode": policy.mode, "mx": list(policy.mx), "max_age": policy.max_age,
        "fetched_at": now, "expires_at": now + dt.timedelta(seconds=policy.max_age)})


def _from_row(row: MtaStsPolicy) -> mtasts.Policy:
    return mtasts.Policy(mode=row.mode, mx=tuple(row.mx), max_age=row.max_age)
