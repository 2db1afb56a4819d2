"""SIGKILL in the middle of a submission burst loses no acknowledged message."""

from __future__ import annotations

import re
import smtplib
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import trustme

from tests.support.gateway import ADMIN, Gateway
from tests.support.sinks import TLSSink

pytestmark = pytest.mark.e2e

MESSAGES = 200
CONNECTIONS = 4
KILL_AFTER_ACKS = 80
MARKER = re.compile(rb"crash-marker-(\d+)-end")
MARKER_RECIPIENT = re.compile(r"p(\d+)@patient\.test")


def submit(gateway: Gateway, numbers: range, acked: set[int], lock: threading.Lock) -> None:
    try:
        client = gateway.smtp()
        for n in numbers:
            body = f"From: {ADMIN}\r\nTo: p{n}@patient.test\r\nSubject: s\r\n\r\ncrash-marker-{n}-end\r\n"
            client.sendmail(ADMIN, [f"p{n}@patient.test"], body.encode())
            with lock:
                acked.add(n)
    except (smtplib.SMTPException, OSError):
        return  # the gateway was killed; what had no 250 is the client's to retry


def test_sigkill_during_submission_loses_nothing(gateway_factory: object, ca: trustme.CA, ca_file: Path) -> None:
    acked: set[int] = set()
    lock = threading.Lock()
    with TLSSink(ca, mode="valid", hostname="127.0.0.1") as sink:
        gateway: Gateway = gateway_factory()  # type: ignore[operator]
        gateway.route("patient.test", "127.0.0.1", sink.port, ca_file)
        gateway.configure(lambda d: d["delivery"].__setitem__("lease", "2s"))
        gateway.start()

        share = MESSAGES // CONNECTIONS
        threads = [threading.Thread(target=submit, args=(gateway, range(i * share, (i + 1) * share), acked, lock))
                   for i in range(CONNECTIONS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while len(acked) < KILL_AFTER_ACKS and time.monotonic() < deadline:
            time.sleep(0.005)
        gateway.kill()
        for thread in threads:
            thread.join(30)
        acked_at_kill = set(acked)

        gateway.start()
        rows = gateway.wait_for(lambda rows: all(r["status"] == "delivered" for r in rows) and len(rows) > 0,
                                timeout=90, what="queue to drain after restart")

    delivered = Counter(int(m.group(1)) for msg in sink.messages if (m := MARKER.search(msg.content)))
    interrupted = {int(MARKER_RECIPIENT.match(r["recipient"]).group(1)) for r in rows  # type: ignore[union-attr]
                   if any(a["outcome"] == "interrupted" for a in r["attempts"])}
    duplicates = {n for n, count in delivered.items() if count > 1}

    assert KILL_AFTER_ACKS <= len(acked_at_kill) < MESSAGES
    assert [n for n in sorted(acked_at_kill) if delivered[n] == 0] == []
    # A repeat is only allowed where the kill cut an attempt short after the
    # sink had accepted it, and then the attempt is on record as interrupted.
    assert duplicates <= interrupted

