"""Reply addresses handed out in Reply-To, replies received on them, and auto-response history."""

from __future__ import annotations

import base64
import hashlib
import secrets

from django.db import models

from careseal.queue.models import Delivery

LOCAL_PREFIX = "reply+"


def new_reply_token() -> str:
    """Return 20 random bytes in lower-case base32: 160 bits, no PHI, safe in a local part."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").lower().rstrip("=")


def reply_token_hash(token: str) -> str:
    return hashlib.sha256(token.lower().encode("ascii", "replace")).hexdigest()


class ReplyAddress(models.Model):
    """One Reply-To address, leading back to the delivery it was written into."""

    token_hash = models.CharField(max_length=64, unique=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="reply_addresses")
    created_at = models.DateTimeField(auto_now_add=True)


class ReceivedReply(models.Model):
    """A patient's plain-mail reply: how it travelled and whether it quoted the original."""

    reply_address = models.ForeignKey(ReplyAddress, on_delete=models.CASCADE, related_name="replies")
    received_at = models.DateTimeField(auto_now_add=True)
    sender_hash = models.CharField(max_length=64)
    tls_version = models.CharField(max_length=16, blank=True)
    tls_cipher = models.CharField(max_length=64, blank=True)
    requiretls = models.BooleanField(default=False)
    received_hops = models.JSONField(default=list)
    quoted_original = models.BooleanField(default=False)
    automatic = models.BooleanField(default=False)
    forward_queue_id = models.CharField(max_length=32, blank=True)
    autoresponse_queue_id = models.CharField(max_length=32, blank=True)


class AutoResponse(models.Model):
    """When a patient's address last got an automatic response (RFC 3834: at most one per period)."""

    sender_hash = models.CharField(max_length=64, primary_key=True)
    last_sent_at = models.DateTimeField()
