"""The audit chain: appends, tamper detection, the PostgreSQL trigger and signed exports."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from careseal.audit import chain, export, trail
from careseal.audit.models import AuditEvent
from careseal.audit.offline import verify_export

pytestmark = pytest.mark.django_db(transaction=True)


def append(count: int) -> None:
    for n in range(count):
        trail.record("test.event", subject={"n": n}, data={"value": n * 2})


def test_chain_links_each_event() -> None:
    append(3)

    events = list(AuditEvent.objects.order_by("seq"))

    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == chain.GENESIS
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash


def test_intact_chain_verifies() -> None:
    append(5)

    assert trail.verify() == (5, None)


def test_edited_row_named() -> None:
    append(5)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE careseal_audit_auditevent DISABLE TRIGGER careseal_audit_no_change")
        cursor.execute("UPDATE careseal_audit_auditevent SET data = %s WHERE seq = 3", ['{"value": 999}'])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE careseal_audit_auditevent ENABLE TRIGGER careseal_audit_no_change")

    assert trail.verify() == (5, (3, "stored hash does not match the event's content"))


def test_deleted_row_named() -> None:
    append(5)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE careseal_audit_auditevent DISABLE TRIGGER careseal_audit_no_change")
        cursor.execute("DELETE FROM careseal_audit_auditevent WHERE seq = 2")
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE careseal_audit_auditevent ENABLE TRIGGER careseal_audit_no_change")

    count, problem = trail.verify()

    assert problem is not None
    assert problem[0] == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_trigger_rejects_update_and_delete() -> None:
    append(2)

    for statement in ("UPDATE careseal_audit_auditevent SET kind = 'x' WHERE seq = 1",
                      "DELETE FROM careseal_audit_auditevent WHERE seq = 2"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)

    assert AuditEvent.objects.count() == 2


def test_export_verifies_offline(tmp_path: Path) -> None:
    append(4)

    checkpoint = export.export(tmp_path)
    key = base64.b64decode((tmp_path / "public_key.txt").read_text())

    assert checkpoint["seq"] == 4
    assert verify_export(tmp_path, key) is None


def test_tampered_export_rejected(tmp_path: Path) -> None:
    append(4)
    export.export(tmp_path)
    key = base64.b64decode((tmp_path / "public_key.txt").read_text())
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    event = json.loads(lines[1])
    event["data"]["value"] = 7
    lines[1] = json.dumps(event)
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")

    assert verify_export(tmp_path, key) == "event 2: stored hash does not match the event's content"


def test_truncated_export_rejected(tmp_path: Path) -> None:
    append(4)
    export.export(tmp_path)
    key = base64.b64decode((tmp_path / "public_key.txt").read_text())
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    (tmp_path / "events.jsonl").write_text("\n".join(lines[:3]) + "\n")

    assert verify_export(tmp_path, key) == "the events end at 3, but the checkpoint vouches for 4"


def test_other_key_rejected(tmp_path: Path) -> None:
    append(1)
    export.export(tmp_path)

    assert verify_export(tmp_path, bytes(32)) == "the checkpoint signature does not verify with the given public key"


def test_prune_keeps_chain_verifiable() -> None:
    append(6)
    old = timezone.now() - dt.timedelta(days=3 * 365)
    _backdate(4, old)

    removed = trail.prune(2 * 365 * 86400)

    assert removed == 4
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))[:2] == [5, 6]
    assert trail.verify()[1] is None


def test_prune_without_old_events_removes_nothing() -> None:
    append(3)

    assert trail.prune(365 * 86400) == 0
    assert AuditEvent.objects.count() == 3


def _backdate(through_seq: int, when: dt.datetime) -> None:
    """Make the first events old, as the passing years would; their hashes break, but they are pruned."""
    postgresql = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgresql:
            cursor.execute("ALTER TABLE careseal_audit_auditevent DISABLE TRIGGER careseal_audit_no_change")
        AuditEvent.objects.filter(seq__lte=through_seq).update(created_at=when)
        if postgresql:
            cursor.execute("ALTER TABLE careseal_audit_auditevent ENABLE TRIGGER careseal_audit_no_change")
