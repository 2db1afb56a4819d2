"""Prove control of a mailbox with a one-time code mailed to it.

Limits, in the spirit of NIST SP 800-63B section 5.2.2 (rate limiting):

* a code is valid for 10 minutes and for one use;
* at most 5 codes are sent per address per hour;
* a code becomes invalid after 5 wrong entries;
* 10 wrong entries for an address within an hour lock it for an hour.

Codes are compared as keyed hashes in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from careseal.audit import trail as audit
from careseal.escrow import notices
from careseal.policy.decision import OPPORTUNISTIC
from careseal.portal.models import AddressLockout, OneTimeCode
from careseal.queue import store
from careseal.queue.models import Message
from careseal.queue.vault import loggable

log = logging.getLogger("careseal.portal")

CODE_LIFETIME = dt.timedelta(minutes=10)
CODES_PER_HOUR = 5
ATTEMPTS_PER_CODE = 5
FAILURES_BEFORE_LOCK = 10
LOCK_DURATION = dt.timedelta(hours=1)
WINDOW = dt.timedelta(hours=1)


class SendResult(StrEnum):
    SENT = "sent"
    TOO_MANY = "too-many"
    LOCKED = "locked"


class CheckResult(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"


def send_code(address: str, language: str) -> SendResult:
    """Create a code for *address* and queue the mail that carries it, within the limits."""
    address = address.lower()
    now = timezone.now()
    if _locked(address, now):
        return SendResult.LOCKED
    if OneTimeCode.objects.filter(address=address, created_at__gt=now - WINDOW).count() >= CODES_PER_HOUR:
        log.warning("code limit reached address=%s", loggable(address))
        return SendResult.TOO_MANY

    code = f"{secrets.randbelow(1_000_000):06d}"
    mail = notices.code_mail(recipient=address, code=code, language=language,
                             minutes=int(CODE_LIFETIME.total_seconds() // 60))
    with transaction.atomic():
        OneTimeCode.objects.create(address=address, code_hash=_hash(address, code), expires_at=now + CODE_LIFETIME)
        queued = store.accept(store.Submission(
            content=mail, envelope_sender=settings.CARESEAL.practice.notices_from, recipients=[address],
            kind=Message.Kind.CODE, policy=OPPORTUNISTIC, policy_reasons=("one-time code holds no PHI",),
            body_8bit=not mail.isascii(), smtputf8=not address.isascii()))
        audit.record("portal.code_sent", actor=patient_actor(address), data={"code_queue_id": queued.id})
    log.info("code sent address=%s queue_id=%s", loggable(address), queued.id)
    return SendResult.SENT


def check_code(address: str, code: str) -> CheckResult:
    """Check *code* against the newest live code for *address*, counting failures."""
    address = address.lower()
    now = timezone.now()
    with transaction.atomic():
        if _locked(address, now):
            return CheckResult.LOCKED
        current = (OneTimeCode.objects.select_for_update()
                   .filter(address=address, used_at__isnull=True).order_by("-created_at").first())
        if current is None or current.expires_at <= now or current.failed_attempts >= ATTEMPTS_PER_CODE:
            return CheckResult.LOCKED if _fail(address, now) else CheckResult.EXPIRED
        cleaned = "".join(ch for ch in code if ch.isdigit())
        if hmac.compare_digest(current.code_hash, _hash(address, cleaned)):
            current.used_at = now
            current.save(update_fields=["used_at"])
            AddressLockout.objects.filter(address=address).delete()
            audit.record("portal.sign_in", actor=patient_actor(address), data={"method": "code"})
            log.info("code accepted address=%s", loggable(address))
            return CheckResult.OK
        current.failed_attempts += 1
        current.save(update_fields=["failed_attempts"])
        locked = _fail(address, now)
    log.warning("code rejected address=%s attempts=%d", loggable(address), current.failed_attempts)
    return CheckResult.LOCKED if locked else CheckResult.WRONG


def is_locked(address: str) -> bool:
    """Return True while *address* is locked out after too many wrong codes."""
    return _locked(address.lower(), timezone.now())


def record_failure(address: str) -> bool:
    """Count a wrong secret for *address* (access code or password); return True if that locks it."""
    with transaction.atomic():
        return _fail(address.lower(), timezone.now())


def _locked(address: str, now: dt.datetime) -> bool:
    lockout = AddressLockout.objects.filter(address=address).first()
    return bool(lockout and lockout.locked_until and lockout.locked_until > now)


def _fail(address: str, now: dt.datetime) -> bool:
    """Count one failure for *address*; return True if that locks it."""
    lockout, _ = AddressLockout.objects.select_for_update().get_or_create(
        address=address, defaults={"window_started_at": now})
    if lockout.window_started_at <= now - WINDOW:
        lockout.failures, lockout.window_started_at = 0, now
    lockout.failures += 1
    audit.record("portal.sign_in_failed", actor=patient_actor(address), data={"failures": lockout.failures})
    if lockout.failures >= FAILURES_BEFORE_LOCK:
        lockout.locked_until = now + LOCK_DURATION
        audit.record("portal.locked", actor=patient_actor(address),
                     data={"until": lockout.locked_until.isoformat()})
        log.warning("address locked address=%s until=%s", loggable(address), lockout.locked_until.isoformat())
    lockout.save()
    return lockout.locked_until is not None and lockout.locked_until > now


def patient_actor(address: str) -> str:
    """Return the audit actor for a patient: a keyed hash of the address, never the address."""
    return f"patient:{loggable(address)}"


def _hash(address: str, code: str) -> str:
    key = hashlib.sha256(settings.SECRET_KEY.encode() + b"/one-time-code").digest()
    return hmac.new(key, f"{address}\0{code}".encode(), hashlib.sha256).hexdigest()
