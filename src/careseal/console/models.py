"""TOTP second factors for staff accounts (RFC 6238: 30-second steps, 6 digits)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StaffTOTP(models.Model):
    """A staff member's TOTP secret and the last time step used, so no code works twice."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp")
    # NOTE: the secret is stored as is; anyone who can read this table can mint codes,
    # but still needs the staff password.
    secret = models.CharField(max_length=64)
    confirmed = models.BooleanField(default=False)
    last_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
