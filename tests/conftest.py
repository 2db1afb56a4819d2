from __future__ import annotations

from pathlib import Path

import pytest
import trustme

CASES = Path(__file__).resolve().parent / "cases"


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A test certificate authority that next hops' certificates chain to."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def case() -> object:
    """Return a reader for the hostile-input files in tests/cases."""
    def read(name: str) -> bytes:
        return (CASES / name).read_bytes()

    return read
