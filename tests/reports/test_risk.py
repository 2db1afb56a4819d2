"""The risk report for a seeded period, in all three formats, against figures counted here from the rows."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from careseal.audit import trail
from careseal.escrow.models import Escrow
from careseal.queue import store
from careseal.queue.models import Delivery, DeliveryAttempt, Message
from careseal.reports import risk

pytestmark = pytest.mark.django_db(transaction=True)

START, END = dt.date(2026, 1, 1), dt.date(2026, 3, 1)


def at(year: int, month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


def seed_delivery(when: dt.datetime, status: str, *, tls: str = "", verified: bool | None = None,
                  reason: str = "", outcome: str = "delivered") -> Delivery:
    message = store.accept(store.Submission(content=b"Subject: s\r\n\r\nb\r\n", envelope_sender="a@clinic.test",
                                            recipients=["p@patient.test"]))
    Message.objects.filter(pk=message.pk).update(created_at=when)
    delivery = Delivery.objects.get(message=message)
    Delivery.objects.filter(pk=delivery.pk).update(status=status, last_reason=reason)
    DeliveryAttempt.objects.create(delivery=delivery, number=1, worker="w", started_at=when, finished_at=when,
                                   outcome=outcome, tls_version=tls, cert_verified=verified, reason=reason)
    return Delivery.objects.get(pk=delivery.pk)


def seed_escrow(delivery: Delivery, created: dt.datetime, opened: dt.datetime | None, status: str) -> None:
    escrow = Escrow.objects.create(delivery=delivery, message_id=delivery.message_id, recipient="p@patient.test",
                                   token_hash=f"{delivery.pk:064d}", expires_at=created + dt.timedelta(days=30),
                                   status=status, first_opened_at=opened)
    Escrow.objects.filter(pk=escrow.pk).update(created_at=created)



@pytest.fixture
def seeded() -> None:
    for day in (5, 6, 7):
        seed_delivery(at(2026, 1, day), Delivery.Status.DELIVERED, tls="TLSv1.3", verified=True)
    escrowed = seed_delivery(at(2026, 1, 10), Delivery.Status.ESCROWED, reason="next hop does not offer STARTTLS",
                             outcome="escrowed")
    seed_escrow(escrowed, at(2026, 1, 10), at(2026, 1, 10, 14), Escrow.Status.ACTIVE)
    for day in (2, 3):
        seed_delivery(at(2026, 2, day), Delivery.Status.DELIVERED, tls="TLSv1.2", verified=True)
    seed_delivery(at(2026, 2, 4), Delivery.Status.FAILED, reason="certificate verification failed: Hostname mismatch",
                  outcome="deferred")
    unread = seed_delivery(at(2026, 2, 5), Delivery.Status.ESCROWED, reason="STARTTLS rejected: 454",
                           outcome="escrowed")
    seed_escrow(unread, at(2026, 2, 5), None, Escrow.Status.EXPIRED)
    seed_delivery(at(2026, 3, 2), Delivery.Status.DELIVERED, tls="TLSv1.3", verified=True)  # outside the period


def test_figures_match_rows(seeded: None) -> None:
    report = risk.compute(START, END)

    assert report.methods == {"verified TLS": 5, "escrow": 2, "bounced": 1}
    assert report.tls_versions == {"TLSv1.3": 3, "TLSv1.2": 2}
    assert report.authentication == {"certificate verified for the next hop": 5}
    assert report.insecure == {"no STARTTLS offered": 1, "certificate not verified": 1,
                               "STARTTLS rejected (possible downgrade)": 1}
    assert report.bounced_insecure == 1
    assert report.plain_with_phi == 0
    assert report.escrows_created == 2
    assert report.escrows_opened == 1
    assert report.median_hours_to_first_read == 5.0
    assert report.expired_unread == 1
    assert report.monthly["2026-01"] == {"verified TLS": 3, "escrow": 1}
    assert report.monthly["2026-02"] == {"verified TLS": 2, "bounced": 1, "escrow": 1}
    assert "2026-03" not in report.monthly


def test_csv_matches_figures(seeded: None) -> None:
    rows = list(csv.reader(io.StringIO(risk.render_csv(risk.compute(START, END)))))

    values = {(section, metric): value for section, metric, value in rows[1:]}
    assert values[("delivery method", "verified TLS")] == "5"
    assert values[("delivery method", "escrow")] == "2"
    assert values[("escrow", "median hours to first read")] == "5.0"
    assert values[("month 2026-02", "bounced")] == "1"
    assert values[("audit", "chain")] == "intact"
    assert values[("consent", "given in the period")] == "0"


def test_html_shows_figures(seeded: None) -> None:
    html = risk.render_html(risk.compute(START, END))

    assert "Email risk report" in html
    assert '<td>verified TLS</td><td class="num">5</td>' in html
    assert "5.0 h" in html
    assert "<svg" in html


def test_pdf_renders(seeded: None, tmp_path: object) -> None:
    pdf = risk.render_pdf(risk.compute(START, END))

    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf) > 5000


def test_portal_events_counted() -> None:
    for kind, count in (("portal.sign_in", 2), ("portal.sign_in_failed", 3), ("portal.locked", 1)):
        for _ in range(count):
            trail.record(kind)
    today = dt.datetime.now(dt.UTC).date()

    report = risk.compute(today, today + dt.timedelta(days=1))

    assert report.portal["sign-ins"] == 2
    assert report.portal["failed sign-ins"] == 3
    assert report.portal["lockouts"] == 1
    assert report.audit_problem == ""


def test_plain_replies_counted() -> None:
    trail.record("reply.received", data={"tls_version": "TLSv1.3", "quoted_original": True})
    trail.record("reply.received", data={"tls_version": "TLSv1.3", "quoted_original": True})
    trail.record("reply.received", data={"tls_version": "", "quoted_original": False})
    trail.record("autoresponse.sent")
    today = dt.datetime.now(dt.UTC).date()

    report = risk.compute(today, today + dt.timedelta(days=1))

    assert report.replies == {"over TLS, quoting the original": 2, "without TLS, not quoting the original": 1,
                              "automatic responses sent": 1, "patients switched to escrow": 0}


def test_consented_plain_delivery_counted_apart() -> None:
    plain = seed_delivery(at(2026, 1, 20), Delivery.Status.DELIVERED)
    Delivery.objects.filter(pk=plain.pk).update(policy="plain-consented")

    report = risk.compute(START, END)

    assert report.plain_with_consent == 1
    assert report.plain_with_phi == 0


def test_mta_sts_attempts_counted() -> None:
    enforced = seed_delivery(at(2026, 1, 5), Delivery.Status.DELIVERED, tls="TLSv1.3", verified=True)
    DeliveryAttempt.objects.filter(delivery=enforced).update(mta_sts="enforce id=1 (fetched)")
    spoofed = seed_delivery(at(2026, 1, 6), Delivery.Status.ESCROWED, outcome="escrowed",
                            reason="MTA-STS policy of patient.test lists none of its MX hosts (mx.attacker.test)")
    DeliveryAttempt.objects.filter(delivery=spoofed).update(mta_sts="enforce id=1 (cached); rejected mx.attacker.test")
    testing = seed_delivery(at(2026, 1, 7), Delivery.Status.DELIVERED, tls="TLSv1.3", verified=True)
    DeliveryAttempt.objects.filter(delivery=testing).update(mta_sts="testing id=7 (fetched)")
    seed_delivery(at(2026, 1, 8), Delivery.Status.DELIVERED, tls="TLSv1.3", verified=True)

    report = risk.compute(START, END)
    rows = list(csv.reader(io.StringIO(risk.render_csv(report))))

    assert report.mta_sts == {"recipient domain's policy: enforce": 2, "recipient domain's policy: testing": 1,
                              "MX hosts rejected as not listed in an enforce policy": 1}
    assert ["MTA-STS", "MX hosts rejected as not listed in an enforce policy", "1"] in rows
    assert "recipient domain&#x27;s policy: enforce</td><td class=\"num\">2" in risk.render_html(report)
