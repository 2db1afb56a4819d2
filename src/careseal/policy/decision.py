"""Decide how a message travels to one recipient, and say why.

Policies, from strictest delivery to none:

* ``verified-tls``: deliver only over TLS 1.2+ with a certificate verified
  for the next hop; otherwise defer, then bounce. Never plaintext.
* ``tls-or-escrow``: verified TLS where the next hop offers it; where it
  cannot, keep the message encrypted here and send the recipient a pickup
  notice for the portal instead.
* ``escrow``: always keep the message here and send a pickup notice.
* ``plain-consented``: plain delivery (TLS where offered) while the
  recipient has a valid consent to plain email; otherwise ``tls-or-escrow``.

The most specific rule wins: recipient address, then recipient domain, then
sender address, then sender group, then the configured default. A subject
keyword (``[secure]`` by default) upgrades any message to escrow, and so,
when configured, does a subject that looks like PHI. Pickup notices and
one-time codes carry no PHI and use the internal ``opportunistic`` policy:
verified TLS where possible, encrypted where offered, plain otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

VERIFIED_TLS = "verified-tls"
TLS_OR_ESCROW = "tls-or-escrow"
ESCROW = "escrow"
PLAIN_CONSENTED = "plain-consented"
OPPORTUNISTIC = "opportunistic"

CONFIGURABLE = (VERIFIED_TLS, TLS_OR_ESCROW, ESCROW, PLAIN_CONSENTED)
RULE_KINDS = ("recipient", "domain", "sender", "group")  # most specific first


@dataclass(frozen=True)
class Rule:
    """A stored policy rule: for this recipient, recipient domain, sender or sender group, use *policy*."""

    kind: str
    value: str
    policy: str
    note: str = ""


@dataclass(frozen=True)
class Decision:
    """The policy for one recipient and the reasons, in the order they applied."""

    policy: str
    reasons: tuple[str, ...] = field(default_factory=tuple)


def decide(*, default_policy: str, secure_keyword: bool, recipient: str = "", sender: str = "",
           sender_groups: Iterable[str] = (), rules: Sequence[Rule] = (), phi_in_subject: bool = False,
           phi_escrow: bool = False, consent: str = "") -> Decision:
    """Return the policy for *recipient* of a message from *sender*, with every reason."""
    recipient, sender = recipient.lower(), sender.lower()
    keys = {"recipient": {recipient}, "domain": {recipient.rpartition("@")[2]}, "sender": {sender},
            "group": {g.lower() for g in sender_groups}}
    policy, reasons = default_policy, [f"default policy {default_policy}"]
    for kind in RULE_KINDS:
        matches = [rule for rule in rules if rule.kind == kind and rule.value.lower() in keys[kind]]
        if matches:
            rule = matches[0]
            policy = rule.policy
            reasons.append(f"{kind} rule for {rule.value}: {rule.policy}" + (f" ({rule.note})" if rule.note else ""))
            break
    if policy == PLAIN_CONSENTED:
        if consent:
            reasons.append(f"valid consent to plain email ({consent})")
        else:
            policy = TLS_OR_ESCROW
            reasons.append("no valid consent to plain email: tls-or-escrow instead")
    if secure_keyword and policy != ESCROW:
        policy = ESCROW
        reasons.append("subject keyword requested escrow")
    if phi_in_subject:
        reasons.append("subject looks like PHI: kept out of notices and DSNs")
        if phi_escrow and policy != ESCROW:
            policy = ESCROW
            reasons.append("PHI guard upgraded the message to escrow")
    return Decision(policy, tuple(reasons))


def subject_looks_like_phi(subject: str, patterns: Sequence[str], drug_names: Sequence[str]) -> bool:
    """Return True if *subject* matches a PHI pattern or names a listed drug (whole words, any case)."""
    for pattern in patterns:
        if re.search(pattern, subject):
            return True
    words = set(re.findall(r"[a-z][a-z-]+", subject.lower()))
    return any(drug.lower() in words for drug in drug_names)
