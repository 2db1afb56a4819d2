"""The audit event table. Rows are only ever inserted; on PostgreSQL a trigger enforces it."""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One audited event: ids, hashes and outcomes only, never PHI."""

    seq = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField()
    kind = models.CharField(max_length=64, db_index=True)
    actor = models.CharField(max_length=128)
    subject = models.JSONField(default=dict)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"{self.seq} {self.kind}"


class AuditAnchor(models.Model):
    """The start of the kept chain after pruning: the last removed event's sequence number and hash."""

    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    pruned_at = models.DateTimeField(auto_now_add=True)
    removed = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["-seq"]
