from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.support.gateway import Gateway
from tests.support.sinks import TLSSink

pytestmark = pytest.mark.e2e


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[object]:
    """Build gateways in this test's folder; every one is killed and its database dropped at the end."""
    made: list[Gateway] = []

    def make(name: str = "gateway") -> Gateway:
        gateway = Gateway(tmp_path / name)
        made.append(gateway)
        return gateway.init()

    yield make
    for gateway in made:
        gateway.close()


@pytest.fixture(scope="module")
def patient_mx(ca: trustme.CA) -> Iterator[TLSSink]:
    """The patient's mail server: STARTTLS with a certificate from the test CA for mx.patient.test."""
    with TLSSink(ca, mode="valid", hostname="mx.patient.test") as sink:
        yield sink
