"""One-time codes that prove control of a mailbox, and the lockout that limits guessing."""

from __future__ import annotations

from django.db import models


class OneTimeCode(models.Model):
    """A 6-digit code mailed to an address, stored only as a keyed hash."""

    address = models.CharField(max_length=320, db_index=True)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]


class AddressLockout(models.Model):
    """Failed code entries for one address in the current window, and any lock in force."""

    address = models.CharField(max_length=320, primary_key=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)


class LanguagePreference(models.Model):
    """The language a patient chose in the portal, used for their later notices."""

    address = models.CharField(max_length=320, primary_key=True)
    language = models.CharField(max_length=8)
    updated_at = models.DateTimeField(auto_now=True)


class PatientAccount(models.Model):
    """A returning patient's password (an Argon2 hash), an alternative to a mailed code."""

    address = models.CharField(max_length=320, primary_key=True)
    password = models.CharField(max_length=256)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class PatientPasskey(models.Model):
    """A WebAuthn credential a patient registered after proving their mailbox."""

    address = models.CharField(max_length=320, db_index=True)
    credential_id = models.BinaryField(unique=True)
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
