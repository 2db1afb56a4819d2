"""Give, check and revoke consent; every change is audited."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from careseal.audit import trail as audit
from careseal.consent.models import Consent
from careseal.queue.vault import loggable

log = logging.getLogger("careseal.consent")


def valid_consent(address: str) -> Consent | None:
    return Consent.objects.valid().filter(address=address.lower()).first()


def give(*, address: str, typed_name: str, language: str, method: str, ip_address: str | None = None,
         user_agent: str = "", expires_at: object = None, recorded_by_id: int | None = None,
         actor: str = "") -> Consent:
    with transaction.atomic():
        consent = Consent.objects.create(
            address=address.lower(), typed_name=typed_name.strip()[:200], language=language, method=method,
            ip_address=ip_address, user_agent=user_agent[:500], expires_at=expires_at,
            recorded_by_id=recorded_by_id)
        audit.record("consent.given", actor=actor or f"patient:{loggable(address)}",
                     subject={"consent_id": consent.pk},
                     data={"method": method, "text_version": consent.text_version,
                           "expires_at": consent.expires_at.isoformat() if consent.expires_at else None})
    log.info("consent given address=%s method=%s consent=%d", loggable(address), method, consent.pk)
    return consent


def revoke(address: str, via: str, actor: str = "") -> int:
    """Revoke every valid consent of *address*; return how many."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(Consent.objects.valid().filter(address=address.lower()).values_list("id", flat=True))
        changed = Consent.objects.filter(pk__in=ids).update(revoked_at=now, revoked_via=via)
        for consent_id in ids:
            audit.record("consent.revoked", actor=actor or f"patient:{loggable(address)}",
                         subject={"consent_id": consent_id}, data={"via": via})
    if changed:
        log.info("consent revoked address=%s count=%d via=%s", loggable(address), changed, via)
    return changed
