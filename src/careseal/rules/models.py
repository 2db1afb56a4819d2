"""Policy rules by recipient address, recipient domain, sender address or sender group."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from careseal.policy.decision import CONFIGURABLE, RULE_KINDS


class PolicyRule(models.Model):
    """Use *policy* for mail matching this rule; the most specific kind wins."""

    kind = models.CharField(max_length=16, choices=[(k, k) for k in RULE_KINDS])
    value = models.CharField(max_length=320, help_text="address, domain or group name; case does not matter")
    policy = models.CharField(max_length=32, choices=[(p, p) for p in CONFIGURABLE])
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="unique_policy_rule")]
        ordering = ["kind", "value"]

    def clean(self) -> None:
        self.value = self.value.strip().lower()
        if self.kind in ("recipient", "sender") and "@" not in self.value:
            raise ValidationError({"value": "an address rule needs a full address"})
        if self.kind == "domain" and "@" in self.value:
            raise ValidationError({"value": "a domain rule takes a domain, not an address"})

    def __str__(self) -> str:
        return f"{self.kind} {self.value}: {self.policy}"
