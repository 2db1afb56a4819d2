"""Copying sealed blobs between stores when an instance moves to new storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from careseal.audit.models import AuditEvent
from careseal.queue.storage_copy import copy_blobs
from careseal.vault.blobstore import LocalBlobStore

pytestmark = pytest.mark.django_db


def test_copy_fills_gaps_only(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    source, target = LocalBlobStore(tmp_path / "old"), LocalBlobStore(tmp_path / "new")
    source.put("only-in-source", b"a")
    target.put("only-in-target", b"b")
    source.put("in-both-alike", b"c")
    target.put("in-both-alike", b"c")
    source.put("in-both-unlike", b"old bytes")
    target.put("in-both-unlike", b"new bytes")

    report = copy_blobs(source, target, iter(["only-in-source", "only-in-target", "in-both-alike",
                                              "in-both-unlike", "in-neither"]))

    assert report.copied == 1
    assert report.present == 2
    assert report.missing == ["in-neither"]
    assert report.conflicting == ["in-both-unlike"]
    assert not report.complete
    assert target.get("only-in-source") == b"a"
    assert target.get("in-both-unlike") == b"new bytes"
    event = AuditEvent.objects.get(kind="storage.copied")
    assert event.data == {"copied": 1, "present": 2, "missing": 1, "conflicting": 1}
