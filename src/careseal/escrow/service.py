"""Put a delivery into escrow: create the escrow, queue its pickup notice, close the delivery."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from careseal.audit import trail as audit
from careseal.escrow import notices
from careseal.escrow.models import Escrow, new_token, token_hash
from careseal.policy.decision import OPPORTUNISTIC
from careseal.portal.models import LanguagePreference
from careseal.queue import store
from careseal.queue.models import Delivery, Message

log = logging.getLogger("careseal.escrow")


def resend_notice(escrow: Escrow, actor: str) -> str:
    """Issue a new pickup link for *escrow* and queue a notice with it; return the notice's queue id.

    The escrow's token is replaced, so the link in an earlier notice stops
    working: a notice is resent when the first one was lost or suspected.
    """
    config = settings.CARESEAL
    token = new_token()
    notice = notices.pickup_notice(recipient=escrow.recipient, token=token, expires_at=escrow.expires_at,
                                   language=escrow.language)
    with transaction.atomic():
        Escrow.objects.filter(pk=escrow.pk).update(token_hash=token_hash(token))
        queued = store.accept(store.Submission(
            content=notice, envelope_sender=config.practice.notices_from, recipients=[escrow.recipient],
            kind=Message.Kind.NOTICE, policy=OPPORTUNISTIC, policy_reasons=("pickup notice holds no PHI",),
            smtputf8=not escrow.recipient.isascii(), body_8bit=not notice.isascii()))
        audit.record("escrow.notice_resent", actor=actor,
                     subject={"queue_id": escrow.message_id, "escrow_id": escrow.id},
                     data={"notice_queue_id": queued.id})
    log.info("notice resent escrow=%s notice_queue_id=%s", escrow.id, queued.id)
    return queued.id


def open_escrow(delivery: Delivery, reason: str, worker: str) -> Escrow | None:
    """Escrow *delivery* for its recipient and queue the pickup notice, in one transaction.

    Returns None if *worker* no longer holds the delivery's lease. The raw
    token exists only in the notice, which is sealed like every message.
    """
    config = settings.CARESEAL
    token = new_token()
    now = timezone.now()
    expires_at = now + dt.timedelta(seconds=config.escrow.expiry)
    preference = LanguagePreference.objects.filter(address=delivery.recipient.lower()).first()
    language = preference.language if preference else config.escrow.default_language
    notice = notices.pickup_notice(recipient=delivery.recipient, token=token, expires_at=expires_at,
                                   language=language)

    with transaction.atomic():
        changed = Delivery.objects.filter(pk=delivery.pk, lease_owner=worker).update(
            status=Delivery.Status.ESCROWED, finished_at=now, last_reason=reason[:2000],
            lease_owner="", lease_expires_at=None)
        if not changed:
            log.warning("lease lost before escrow queue_id=%s delivery=%s", delivery.message_id, delivery.pk)
            return None
        escrow = Escrow.objects.create(
            delivery=delivery, message_id=delivery.message_id, recipient=delivery.recipient.lower(),
            language=language, token_hash=token_hash(token), expires_at=expires_at, reason=reason[:2000])
        queued = store.accept(store.Submission(
            content=notice, envelope_sender=config.practice.notices_from, recipients=[delivery.recipient],
            kind=Message.Kind.NOTICE, policy=OPPORTUNISTIC, policy_reasons=("pickup notice holds no PHI",),
            smtputf8=not delivery.recipient.isascii(), body_8bit=not notice.isascii()))
        audit.record("escrow.created", actor=f"worker:{worker}",
                     subject={"queue_id": delivery.message_id, "delivery_id": delivery.pk, "escrow_id": escrow.id},
                     data={"notice_queue_id": queued.id, "expires_at": expires_at.isoformat(),
                           "language": language})
    log.info("escrowed queue_id=%s delivery=%s escrow=%s notice_queue_id=%s",
             delivery.message_id, delivery.pk, escrow.id, queued.id)
    return escrow
