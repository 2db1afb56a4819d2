"""Prometheus metrics, computed from the database at scrape time so every process's work counts."""

from __future__ import annotations

import ipaddress

from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from careseal.audit.models import AuditEvent
from careseal.escrow.models import Escrow
from careseal.queue.models import Delivery, Message


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        rendered = ",".join(f'{key}="{str(val).replace(chr(34), "")}"' for key, val in sorted(labels.items()))
        return f"{name}{{{rendered}}} {value}"
    return f"{name} {value}"


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Return counters and gauges in the Prometheus text format; only loopback clients may read them."""
    try:
        if not ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback:
            return HttpResponse("metrics are served to loopback clients only\n", status=403,
                                content_type="text/plain")
    except ValueError:
        return HttpResponse(status=403)

    lines = [
        "# HELP careseal_messages_accepted_total Messages accepted into the queue, by kind.",
        "# TYPE careseal_messages_accepted_total counter",
    ]
    for row in Message.objects.values("kind").annotate(count=Count("id")).order_by("kind"):
        lines.append(_line("careseal_messages_accepted_total", row["count"], {"kind": row["kind"]}))

    lines += ["# HELP careseal_deliveries Deliveries by status and policy.", "# TYPE careseal_deliveries gauge"]
    for row in Delivery.objects.values("status", "policy").annotate(count=Count("id")).order_by("status", "policy"):
        lines.append(_line("careseal_deliveries", row["count"], {"status": row["status"], "policy": row["policy"]}))

    pending = Delivery.objects.filter(status__in=Delivery.PENDING)
    oldest = pending.aggregate(oldest=Min("message__created_at"))["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    lines += [
        "# HELP careseal_queue_depth Deliveries waiting for an attempt.", "# TYPE careseal_queue_depth gauge",
        _line("careseal_queue_depth", pending.count()),
        "# HELP careseal_queue_oldest_seconds Age of the oldest waiting delivery.",
        "# TYPE careseal_queue_oldest_seconds gauge",
        _line("careseal_queue_oldest_seconds", round(age, 3)),
        "# HELP careseal_escrows Escrowed messages by status.", "# TYPE careseal_escrows gauge",
    ]
    for row in Escrow.objects.values("status").annotate(count=Count("id")).order_by("status"):
        lines.append(_line("careseal_escrows", row["count"], {"status": row["status"]}))

    lines += ["# HELP careseal_portal_events_total Portal sign-ins, failures and lockouts.",
              "# TYPE careseal_portal_events_total counter"]
    kinds = ("portal.sign_in", "portal.sign_in_failed", "portal.locked")
    counts = dict(AuditEvent.objects.filter(kind__in=kinds).values_list("kind").annotate(count=Count("id")))
    for kind in kinds:
        lines.append(_line("careseal_portal_events_total", counts.get(kind, 0), {"event": kind.split(".", 1)[1]}))
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
