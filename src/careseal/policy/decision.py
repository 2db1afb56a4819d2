"""Decide how a message travels to one recipient, and say why.

Policies, from strictest delivery to none:

* ``verified-tls``: deliver only over TLS 1.2+ with a certificate verified
  for the next hop; otherwise defer, then bounce. Never plaintext.
* ``tls-or-escrow``: verified TLS where the next hop offers it; where it
  cannot, keep the message encrypted here and send the recipient a pickup
  notice for the portal instead.
* ``escrow``: always keep the message here and send a pickup notice.

A subject keyword (``[secure]`` by default) upgrades any message to escrow.
Pickup notices and one-time codes themselves carry no PHI and use the
internal ``opportunistic`` policy: verified TLS where possible, encrypted
where offered, plain otherwise, so that every patient can get them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERIFIED_TLS = "verified-tls"
TLS_OR_ESCROW = "tls-or-escrow"
ESCROW = "escrow"
OPPORTUNISTIC = "opportunistic"

CONFIGURABLE = (VERIFIED_TLS, TLS_OR_ESCROW, ESCROW)


@dataclass(frozen=True)
class Decision:
    """The policy for one recipient and the reasons, in the order they applied."""

    policy: str
    reasons: tuple[str, ...] = field(default_factory=tuple)


def decide(*, default_policy: str, secure_keyword: bool) -> Decision:
    """Return the policy for a recipient of a message submitted by staff."""
    reasons = [f"default policy {default_policy}"]
    policy = default_policy
    if secure_keyword and policy != ESCROW:
        policy = ESCROW
        reasons.append("subject keyword requested escrow")
    return Decision(policy, tuple(reasons))
