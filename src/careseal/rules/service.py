"""Per-recipient policy decisions from the configuration and the stored rules."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from careseal.audit import trail as audit
from careseal.consent.service import valid_consent
from careseal.policy.decision import ESCROW, Decision, Rule, decide, subject_looks_like_phi
from careseal.queue.vault import loggable
from careseal.rules.models import PolicyRule

log = logging.getLogger("careseal.policy")


def decisions(*, sender: str, recipients: Sequence[str], subject: str, secure_keyword: bool,
              submitted_by_id: int | None = None) -> dict[str, Decision]:
    """Return the decision for each recipient of one message."""
    config = settings.CARESEAL
    wanted = {r.lower() for r in recipients} | {r.lower().rpartition("@")[2] for r in recipients} | {sender.lower()}
    groups: list[str] = []
    if submitted_by_id is not None:
        user = get_user_model().objects.filter(pk=submitted_by_id).first()
        if user is not None:
            groups = [g.lower() for g in user.groups.values_list("name", flat=True)]
    rules = [Rule(r.kind, r.value, r.policy, r.note)
             for r in PolicyRule.objects.filter(value__in=list(wanted) + groups)]
    phi = subject_looks_like_phi(subject, config.policy.phi_patterns, config.policy.drug_names)
    return {recipient: decide(default_policy=config.delivery.policy, secure_keyword=secure_keyword,
                              recipient=recipient, sender=sender, sender_groups=groups, rules=rules,
                              phi_in_subject=phi, phi_escrow=config.policy.phi_escrow,
                              consent=_consent_label(recipient))
            for recipient in recipients}


def _consent_label(recipient: str) -> str:
    consent = valid_consent(recipient)
    if consent is None:
        return ""
    return f"{consent.method}, given {consent.given_at:%Y-%m-%d}, text version {consent.text_version}"


def switch_to_escrow(address: str, reason: str) -> bool:
    """Add a recipient rule that escrows all later mail to *address*; return False if one already exists."""
    address = address.lower()
    with transaction.atomic():
        rule, created = PolicyRule.objects.get_or_create(kind="recipient", value=address,
                                                         defaults={"policy": ESCROW, "note": reason[:200]})
        if not created:
            return False
        audit.record("policy.switched_to_escrow", actor=f"patient:{loggable(address)}", data={"reason": reason})
    log.info("recipient switched to escrow address=%s", loggable(address))
    return True
