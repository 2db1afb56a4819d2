"""Escrowed messages and the pickup tokens that lead to them."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils import timezone

from careseal.queue.models import Delivery, Message

# 24 random bytes: 192 bits, above the 128 bits a pickup link must carry.
TOKEN_BYTES = 24


def new_escrow_id() -> str:
    return secrets.token_hex(10)


def new_token() -> str:
    """Return a new URL-safe pickup token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """Return the stored form of a pickup token. The token has full entropy, so a plain hash suffices."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class Escrow(models.Model):
    """One message kept for one recipient until pickup, expiry or recall."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        RECALLED = "recalled"
        EXPIRED = "expired"

    id = models.CharField(primary_key=True, max_length=32, default=new_escrow_id, editable=False)
    delivery = models.OneToOneField(Delivery, on_delete=models.CASCADE, related_name="escrow")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="escrows")
    recipient = models.CharField(max_length=320, db_index=True)
    language = models.CharField(max_length=8, default="en")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.id

    @property
    def available(self) -> bool:
        return self.status == self.Status.ACTIVE and self.expires_at > timezone.now()
