"""MTA-STS on real gateway processes: Knot DNS, an HTTPS policy server and an SMTP sink on loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.support.dns import zone
from tests.support.gateway import ADMIN, Gateway
from tests.support.https import Reply, policy
from tests.support.sinks import TLSSink

pytestmark = pytest.mark.e2e

MESSAGE = b"From: admin@clinic.test\r\nTo: pat@patient.test\r\nSubject: Results\r\n\r\nYour results are ready.\r\n"


def gateway_for(gateway: Gateway, dns: tuple[str, int], sink: TLSSink, ca_file: Path) -> Gateway:
    def edit(document: Any) -> None:
        document["dns"]["nameservers"] = [f"{dns[0]}:{dns[1]}"]
        document["delivery"]["port"] = sink.port
        document["delivery"]["ca_file"] = str(ca_file)

    gateway.configure(edit)
    return gateway.start()


def submitted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row["kind"] == "submitted"]


def test_listed_mx_gets_the_message(gateway_factory: Callable[[], Gateway], policy_domain: Callable[..., Any],
                                    ca: trustme.CA, ca_file: Path) -> None:
    dns = policy_domain(Reply(policy("enforce", "mx.patient.test")),
                        records=("@ MX 10 mx", "mx A 127.0.0.1"))
    with TLSSink(ca, mode="valid", hostname="mx.patient.test") as sink:
        gateway = gateway_for(gateway_factory(), dns, sink, ca_file)
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["pat@patient.test"], MESSAGE)
        rows = gateway.wait_for(lambda rows: [r["status"] for r in submitted(rows)] == ["delivered"])

    attempt = submitted(rows)[0]["attempts"][-1]
    assert attempt["mta_sts"] == "enforce id=20261204 (fetched)"
    assert attempt["next_hop"] == "mx.patient.test"
    assert len(sink.messages) == 1


def test_spoofed_mx_is_rejected_and_message_escrowed(
        gateway_factory: Callable[[], Gateway], policy_domain: Callable[..., Any], ca: trustme.CA,
        ca_file: Path) -> None:
    # Forged DNS names the attacker's host, whose certificate is valid for its own name.
    dns = policy_domain(Reply(policy("enforce", "mx.patient.test")), records=("@ MX 10 mx.attacker.test.",),
                        zones={"attacker.test": zone("attacker.test", "mx A 127.0.0.1")})
    with TLSSink(ca, mode="valid", hostname="mx.attacker.test") as sink:
        gateway = gateway_for(gateway_factory(), dns, sink, ca_file)
        with gateway.smtp() as client:
            client.sendmail(ADMIN, ["pat@patient.test"], MESSAGE)
        rows = gateway.wait_for(lambda rows: [r["status"] for r in submitted(rows)] == ["escrowed"]
                                and any(r["kind"] == "notice" and r["attempts"] for r in rows))
        received = list(sink.messages)

    attempt = submitted(rows)[0]["attempts"][-1]
    notice = next(row for row in rows if row["kind"] == "notice")
    assert attempt["mta_sts"] == "enforce id=20261204 (fetched); rejected mx.attacker.test"
    assert "MTA-STS policy of patient.test lists none of its MX hosts (mx.attacker.test)" in attempt["reason"]
    assert notice["status"] == "deferred"
    assert "MTA-STS policy" in notice["last_reason"]
    assert received == []
