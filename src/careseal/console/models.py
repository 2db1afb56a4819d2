"""TOTP second factors for staff accounts (RFC 6238: 30-second steps, 6 digits)."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.db import models

from careseal.vault.secretbox import derive_key, open_text, seal_text


@cache
def _key() -> bytes:
    return derive_key(settings.SECRET_KEY, "staff-totp")


def seal_secret(secret: str, user_id: int) -> str:
    """Return *secret* sealed for the TOTP row of the user with id *user_id*."""
    return seal_text(_key(), secret, f"staff-totp:{user_id}")


class StaffTOTP(models.Model):
    """A staff member's TOTP secret, sealed, and the last time step used, so no code works twice."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp")
    # Sealed with a key derived from the instance secret, which is kept out of the database,
    # so that reading this table is not enough to mint codes.
    sealed_secret = models.TextField()
    confirmed = models.BooleanField(default=False)
    last_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def secret(self) -> str:
        """The base32 TOTP secret; raises SealError if the instance secret changed or the row was altered."""
        return open_text(_key(), self.sealed_secret, f"staff-totp:{self.user_id}")

    @secret.setter
    def secret(self, value: str) -> None:
        self.sealed_secret = seal_secret(value, self.user_id)


class StaffPasskey(models.Model):
    """A WebAuthn credential a staff member may use instead of a TOTP code, after the password."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys")
    credential_id = models.BinaryField(unique=True)
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
