"""Stored rules, the DSN subject guard and the switch to escrow after a plain reply."""

from __future__ import annotations

import pytest

from careseal.queue.dsn import build
from careseal.rules.models import PolicyRule
from careseal.rules.service import decisions, switch_to_escrow

pytestmark = pytest.mark.django_db(transaction=True)


def test_stored_rule_used_per_recipient() -> None:
    PolicyRule.objects.create(kind="recipient", value="pat@patient.test", policy="escrow")

    chosen = decisions(sender="a@clinic.test", recipients=["pat@patient.test", "other@patient.test"],
                       subject="hello", secure_keyword=False)

    assert chosen["pat@patient.test"].policy == "escrow"
    assert chosen["other@patient.test"].policy == "tls-or-escrow"


def test_switch_to_escrow_once() -> None:
    first = switch_to_escrow("Pat@Patient.test", "replied by plain email")
    second = switch_to_escrow("pat@patient.test", "replied by plain email")

    rule = PolicyRule.objects.get()
    assert (first, second) == (True, False)
    assert (rule.kind, rule.value, rule.policy) == ("recipient", "pat@patient.test", "escrow")


def test_dsn_hides_phi_subject() -> None:
    import datetime as dt

    original = b"From: a@clinic.test\r\nSubject: MRN 448812 biopsy\r\nMessage-ID: <m@clinic.test>\r\n\r\nbody\r\n"
    shown, _ = build(hostname="gateway.test", original=original, original_sender="a@clinic.test",
                     queued_at=dt.datetime.now(dt.UTC), failures=[])
    hidden, _ = build(hostname="gateway.test", original=original, original_sender="a@clinic.test",
                      queued_at=dt.datetime.now(dt.UTC), failures=[], hide_subject=True)

    assert b"MRN 448812" in shown
    assert b"MRN 448812" not in hidden
    assert b"Message-ID: <m@clinic.test>" in hidden
