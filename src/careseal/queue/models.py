"""Messages, their per-recipient deliveries and every delivery attempt with its evidence."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


def new_queue_id() -> str:
    """Return a random 20-hex-digit queue id, used in logs, blob names and Received headers."""
    return secrets.token_hex(10)


class Message(models.Model):
    """One accepted message. Its content lives sealed in blob storage under ``id``."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", "submitted by staff"
        DSN = "dsn", "delivery status notification"
        NOTICE = "notice", "pickup notice"
        CODE = "code", "one-time code"
        PORTAL = "portal", "sent from the patient portal"

    id = models.CharField(primary_key=True, max_length=32, default=new_queue_id, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SUBMITTED)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    envelope_sender = models.CharField(max_length=320, blank=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    message_id = models.CharField(max_length=998, blank=True)
    size = models.PositiveIntegerField()
    smtputf8 = models.BooleanField(default=False)
    body_8bit = models.BooleanField(default=False)
    key_id = models.CharField(max_length=64)
    wrapped_key = models.BinaryField()
    content_removed_at = models.DateTimeField(null=True, blank=True)
    access_code_hash = models.CharField(max_length=64, blank=True)
    subject_is_phi = models.BooleanField(default=False)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.id


class Delivery(models.Model):
    """The state of one message for one recipient."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        DEFERRED = "deferred"
        DELIVERED = "delivered"
        FAILED = "failed"
        ESCROWED = "escrowed"

    PENDING = (Status.QUEUED, Status.DEFERRED)

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.CharField(max_length=320)
    policy = models.CharField(max_length=32, default="verified-tls")
    policy_reasons = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.message_id}/{self.pk}"


class DeliveryAttempt(models.Model):
    """One try at delivering, with the transport evidence a risk assessment needs."""

    class Outcome(models.TextChoices):
        IN_PROGRESS = "in-progress"
        DELIVERED = "delivered"
        DEFERRED = "deferred"
        FAILED = "failed"
        INTERRUPTED = "interrupted"
        ESCROWED = "escrowed"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_set")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=64)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.IN_PROGRESS)
    reason = models.TextField(blank=True)
    next_hop = models.CharField(max_length=255, blank=True)
    next_hop_source = models.CharField(max_length=16, blank=True)
    remote_address = models.CharField(max_length=64, blank=True)
    tls_version = models.CharField(max_length=16, blank=True)
    tls_cipher = models.CharField(max_length=64, blank=True)
    cert_subject = models.TextField(blank=True)
    cert_issuer = models.TextField(blank=True)
    cert_fingerprint_sha256 = models.CharField(max_length=64, blank=True)
    cert_verified = models.BooleanField(null=True)
    verify_error = models.TextField(blank=True)
    smtp_code = models.PositiveIntegerField(null=True, blank=True)
    smtp_reply = models.TextField(blank=True)
    mta_sts = models.CharField(max_length=255, blank=True, help_text="the recipient domain's MTA-STS policy as applied")
    hops = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="unique_attempt_number")]
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return f"{self.delivery_id}#{self.number}"


class MtaStsPolicy(models.Model):
    """A recipient domain's MTA-STS policy as last fetched, kept until its max_age runs out (RFC 8461 5.1)."""

    domain = models.CharField(primary_key=True, max_length=255)
    policy_id = models.CharField(max_length=32)
    mode = models.CharField(max_length=8)
    mx = models.JSONField(default=list)
    max_age = models.PositiveIntegerField()
    fetched_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.domain} {self.mode} id={self.policy_id}"
