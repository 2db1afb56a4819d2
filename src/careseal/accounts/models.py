"""Sender domains: the envelope senders and ``From`` addresses a staff account may use."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SenderDomain(models.Model):
    """A domain whose every address the account may send as, besides its own address."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sender_domains")
    domain = models.CharField(max_length=253)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "domain"], name="unique_sender_domain")]

    def save(self, *args: object, **kwargs: object) -> None:
        self.domain = self.domain.strip().lower().rstrip(".")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.domain
