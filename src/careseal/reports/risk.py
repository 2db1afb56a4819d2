"""Compute the risk report's figures for a period, and render them as HTML, PDF or CSV.

Every figure is a count over rows whose time falls in [start, end): delivery
attempts by their start, escrows by their creation, audit events by their
time. Figures the product cannot measure yet are listed as not recorded
rather than as zero, so a reader does not mistake a gap for good news.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from careseal.audit import trail
from careseal.audit.models import AuditEvent
from careseal.escrow.models import Escrow
from careseal.queue.models import Delivery, DeliveryAttempt, Message

# Reason prefixes the transport writes when a next hop could not do verified TLS.
INSECURE_REASONS = {
    "next hop does not offer STARTTLS": "no STARTTLS offered",
    "STARTTLS rejected": "STARTTLS rejected (possible downgrade)",
    "certificate verification failed": "certificate not verified",
    "TLS handshake failed": "TLS handshake failed (for example TLS below 1.2)",
    "TLS handshake timed out": "TLS handshake timed out",
}
NOT_RECORDED = "not recorded by this version"


@dataclass
class RiskReport:
    start: dt.date
    end: dt.date
    practice: str
    generated_at: dt.datetime
    methods: Counter[str] = field(default_factory=Counter)
    tls_versions: Counter[str] = field(default_factory=Counter)
    authentication: Counter[str] = field(default_factory=Counter)
    insecure: Counter[str] = field(default_factory=Counter)
    mta_sts: Counter[str] = field(default_factory=Counter)
    bounced_insecure: int = 0
    plain_with_phi: int = 0
    plain_with_consent: int = 0
    escrows_created: int = 0
    escrows_opened: int = 0
    median_hours_to_first_read: float | None = None
    expired_unread: int = 0
    recalled: int = 0
    portal: Counter[str] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)
    consents: Counter[str] = field(default_factory=Counter)
    audit_events: int = 0
    audit_problem: str = ""
    monthly: dict[str, Counter[str]] = field(default_factory=dict)
    not_recorded: list[str] = field(default_factory=list)


def compute(start: dt.date, end: dt.date) -> RiskReport:
    """Return the report for the days from *start* up to, not including, *end* (UTC)."""
    since = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    until = dt.datetime.combine(end, dt.time.min, tzinfo=dt.UTC)
    report = RiskReport(start=start, end=end, practice=settings.CARESEAL.practice.name,
                        generated_at=timezone.now())

    deliveries = Delivery.objects.filter(message__kind=Message.Kind.SUBMITTED, message__created_at__gte=since,
                                         message__created_at__lt=until).select_related("message")
    for delivery in deliveries:
        method = _method(delivery)
        report.methods[method] += 1
        month = delivery.message.created_at.strftime("%Y-%m")
        report.monthly.setdefault(month, Counter())[method] += 1

    _attempt_figures(report, DeliveryAttempt.objects.filter(started_at__gte=since, started_at__lt=until))
    report.bounced_insecure = sum(
        1 for d in deliveries if d.status == Delivery.Status.FAILED and any(
            d.last_reason.startswith(prefix) or f": {prefix}" in d.last_reason for prefix in INSECURE_REASONS))

    escrows = Escrow.objects.filter(created_at__gte=since, created_at__lt=until)
    report.escrows_created = escrows.count()
    opened = [e for e in escrows if e.first_opened_at is not None]
    report.escrows_opened = len(opened)
    if opened:
        hours = [(e.first_opened_at - e.created_at).total_seconds() / 3600 for e in opened]  # type: ignore[operator]
        report.median_hours_to_first_read = round(statistics.median(hours), 1)
    report.expired_unread = escrows.filter(status=Escrow.Status.EXPIRED, first_opened_at__isnull=True).count()
    report.recalled = escrows.filter(status=Escrow.Status.RECALLED).count()

    events = AuditEvent.objects.filter(created_at__gte=since, created_at__lt=until)
    for kind, label in (("portal.sign_in", "sign-ins"), ("portal.sign_in_failed", "failed sign-ins"),
                        ("portal.locked", "lockouts"), ("staff.auth_failed", "failed staff logins"),
                        ("portal.reply_sent", "secure replies from the portal"),
                        ("portal.contact_sent", "secure contact messages")):
        report.portal[label] = events.filter(kind=kind).count()

    for event in events.filter(kind="reply.received"):
        tls = "over TLS" if event.data.get("tls_version") else "without TLS"
        quoted = "quoting the original" if event.data.get("quoted_original") else "not quoting the original"
        report.replies[f"{tls}, {quoted}"] += 1
    report.replies["automatic responses sent"] = events.filter(kind="autoresponse.sent").count()
    report.replies["patients switched to escrow"] = events.filter(kind="policy.switched_to_escrow").count()

    report.audit_events, problem = trail.verify()
    report.audit_problem = f"broken at event {problem[0]}: {problem[1]}" if problem else ""
    from careseal.consent.models import Consent

    report.consents["given in the period"] = Consent.objects.filter(given_at__gte=since, given_at__lt=until).count()
    report.consents["revoked in the period"] = Consent.objects.filter(revoked_at__gte=since,
                                                                      revoked_at__lt=until).count()
    report.consents["expired in the period"] = Consent.objects.filter(
        revoked_at__isnull=True, expires_at__gte=since, expires_at__lt=until).count()
    report.consents["active at the end of the period"] = Consent.objects.filter(
        given_at__lt=until).exclude(revoked_at__lt=until).exclude(expires_at__lt=until).count()
    report.not_recorded = []
    return report


def _method(delivery: Delivery) -> str:
    if delivery.status == Delivery.Status.ESCROWED:
        return "escrow"
    if delivery.status == Delivery.Status.DELIVERED:
        return "verified TLS"
    if delivery.status == Delivery.Status.FAILED:
        return "bounced"
    return "still queued"


def _attempt_figures(report: RiskReport, attempts: QuerySet[DeliveryAttempt]) -> None:
    without_phi = (Message.Kind.NOTICE, Message.Kind.CODE)
    for attempt in attempts.select_related("delivery__message"):
        if attempt.outcome == DeliveryAttempt.Outcome.DELIVERED:
            if not attempt.tls_version and attempt.delivery.message.kind not in without_phi:
                if attempt.delivery.policy == "plain-consented":
                    report.plain_with_consent += 1
                else:
                    report.plain_with_phi += 1
            report.tls_versions[attempt.tls_version or "none (plain)"] += 1
            if attempt.cert_verified:
                report.authentication["certificate verified for the next hop"] += 1
            elif attempt.tls_version:
                report.authentication["encrypted, certificate not verified"] += 1
            else:
                report.authentication["not encrypted"] += 1
        for prefix, label in INSECURE_REASONS.items():
            if attempt.reason.startswith(prefix):
                report.insecure[label] += 1
        if attempt.mta_sts:
            mode = attempt.mta_sts.split(" ", 1)[0]
            report.mta_sts[f"recipient domain's policy: {mode}"] += 1
            if "; rejected " in attempt.mta_sts:
                report.mta_sts["MX hosts rejected as not listed in an enforce policy"] += 1


def render_html(report: RiskReport) -> str:
    # Django templates look up "items" as a key first, and a Counter returns 0 for it; pass lists instead.
    tables = {name: sorted(getattr(report, name).items())
              for name in ("tls_versions", "authentication", "insecure", "mta_sts", "portal", "replies", "consents")}
    return render_to_string("reports/risk.html", {"report": report, "tables": tables, "charts": _charts(report)})


def render_pdf(report: RiskReport) -> bytes:
    from weasyprint import HTML

    return HTML(string=render_html(report)).write_pdf()


def render_csv(report: RiskReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "metric", "value"])
    writer.writerow(["period", "from", report.start.isoformat()])
    writer.writerow(["period", "to (exclusive)", report.end.isoformat()])
    for section, counter in (("delivery method", report.methods), ("TLS version", report.tls_versions),
                             ("next-hop authentication", report.authentication),
                             ("no secure transport", report.insecure), ("MTA-STS", report.mta_sts),
                             ("portal", report.portal),
                             ("plain replies", report.replies), ("consent", report.consents)):
        for metric, value in sorted(counter.items()):
            writer.writerow([section, metric, value])
    for section, metric, value in (
            ("delivery", "bounced for lack of secure transport", report.bounced_insecure),
            ("delivery", "messages with PHI delivered without encryption", report.plain_with_phi),
            ("delivery", "messages delivered without encryption under consent", report.plain_with_consent),
            ("escrow", "escrowed messages", report.escrows_created),
            ("escrow", "escrowed messages opened", report.escrows_opened),
            ("escrow", "median hours to first read", report.median_hours_to_first_read),
            ("escrow", "expired unread", report.expired_unread),
            ("escrow", "recalled", report.recalled)):
        writer.writerow([section, metric, "" if value is None else value])
    for month, counter in sorted(report.monthly.items()):
        for method, value in sorted(counter.items()):
            writer.writerow([f"month {month}", method, value])
    writer.writerow(["audit", "events", report.audit_events])
    writer.writerow(["audit", "chain", report.audit_problem or "intact"])
    for item in report.not_recorded:
        writer.writerow(["not recorded", item, NOT_RECORDED])
    return out.getvalue()


def _charts(report: RiskReport) -> dict[str, Any]:
    """Return bar geometry for inline SVG charts, which render the same on screen, in print and in PDF."""
    methods = ["verified TLS", "escrow", "bounced", "still queued"]
    colors = dict(zip(methods, ("#0b5394", "#6fa8dc", "#a00020", "#999999"), strict=True))
    months = sorted(report.monthly)
    peak = max([sum(c.values()) for c in report.monthly.values()] + [1])
    bars = []
    width = 40
    gap = 34
    for index, month in enumerate(months):
        y = 180
        segments = []
        for method in methods:
            value = report.monthly[month].get(method, 0)
            height = round(160 * value / peak)
            y -= height
            segments.append({"method": method, "value": value, "y": y, "height": height, "color": colors[method]})
        bars.append({"month": month, "x": 40 + index * (width + gap), "segments": segments})
    total = sum(report.methods.values()) or 1
    breakdown = [{"method": m, "value": report.methods.get(m, 0), "color": colors[m],
                  "width": round(300 * report.methods.get(m, 0) / total), "y": 10 + i * 28}
                 for i, m in enumerate(methods)]
    legend = [{"method": m, "color": colors[m]} for m in methods]
    return {"bars": bars, "chart_width": max(200, 60 + len(months) * (width + gap)), "breakdown": breakdown,
            "legend": legend}
