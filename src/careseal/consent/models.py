"""Consent records: who agreed to plain email, to which text, when, how, and until when."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# The version of the consent text in templates/consent/text.html. Change it
# whenever that text changes; each record keeps the version it was given to.
CONSENT_TEXT_VERSION = "2026-12-01"


class ConsentQuerySet(models.QuerySet["Consent"]):
    def valid(self) -> ConsentQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class Consent(models.Model):
    class Method(models.TextChoices):
        PORTAL = "portal"
        PAPER = "paper"

    address = models.CharField(max_length=320, db_index=True)
    text_version = models.CharField(max_length=32, default=CONSENT_TEXT_VERSION)
    language = models.CharField(max_length=8, default="en")
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.PORTAL)
    typed_name = models.CharField(max_length=200)
    given_at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_via = models.CharField(max_length=32, blank=True)
    form_blob = models.CharField(max_length=64, blank=True, help_text="sealed scan of a paper form")
    form_key_id = models.CharField(max_length=64, blank=True)
    form_wrapped_key = models.BinaryField(blank=True, default=b"")
    form_filename = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        ordering = ["-given_at"]

    def __str__(self) -> str:
        return f"{self.address} ({self.method}, {self.given_at:%Y-%m-%d})"

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())
