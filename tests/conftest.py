from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from careseal.config import S3Config
from tests.support.dns import KnotServer, zone
from tests.support.https import PolicyServer, Reply, bind_443
from tests.support.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY, SwiftS3
from tests.support.s3 import available as swift_unavailable

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


@pytest.fixture(scope="session")
def swift(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwiftS3]:
    """Swift's S3 API on loopback, shared by the session; each test makes its own bucket."""
    reason = swift_unavailable()
    if reason:
        pytest.fail(f"the S3 tests need OpenStack Swift: {reason}")
    server = SwiftS3(tmp_path_factory.mktemp("swift"), ca)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bucket(swift: SwiftS3) -> str:
    name = f"careseal-{secrets.token_hex(6)}"
    swift.create_bucket(name)
    return name


@pytest.fixture
def s3_config(swift: SwiftS3, bucket: str) -> S3Config:
    """Storage settings for *bucket* under the key prefix ``sealed``, as `careseal` would load them."""
    return S3Config(
        bucket=bucket, prefix="sealed", endpoint_url=swift.endpoint_url, region="us-east-1",
        access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET_ACCESS_KEY, ca_file=swift.ca_file,
        addressing_style="path",
    )


@pytest.fixture
def dns_server(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], tuple[str, int]]]:
    """Start Knot DNS for a dict of zone name to zone file text and return its ``(host, port)``.

    Each call starts one more server in a folder of its own under ``tmp_path``.
    Every server is stopped at teardown.
    """
    servers: list[KnotServer] = []

    def start(zones: dict[str, str]) -> tuple[str, int]:
        server = KnotServer(tmp_path / f"knot-{len(servers)}")
        servers.append(server)
        return server.start(zones)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def policy_domain(dns_server: Callable[[dict[str, str]], tuple[str, int]],
                  ca: trustme.CA) -> Iterator[Callable[..., tuple[str, int]]]:
    """Serve an MTA-STS policy for patient.test; each call returns a DNS server whose zone points at it.

    Keyword arguments: *txt* for the ``_mta-sts`` record, *name* for the
    name in the policy server's certificate, *records* for more lines of the
    patient.test zone, and *zones* for more zones on the same DNS server.
    """
    if (bound := bind_443()) is None:
        pytest.skip("the policy server binds port 443, which needs root")
    bound[0].close()
    servers: list[PolicyServer] = []

    def start(reply: Reply, txt: str = '"v=STSv1; id=20261204"', name: str = "mta-sts.patient.test",
              records: tuple[str, ...] = (), zones: dict[str, str] | None = None) -> tuple[str, int]:
        server = PolicyServer(ca, name, reply).__enter__()
        servers.append(server)
        return dns_server({"patient.test": zone(
            "patient.test", f"_mta-sts TXT {txt}", f"mta-sts A {server.address}", *records), **(zones or {})})

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def no_remembered_mta_sts_failures() -> Iterator[None]:
    """Forget MTA-STS fetch failures this process remembers, so one test's failure does not carry over."""
    from careseal.queue import mtasts

    mtasts._failed_until.clear()
    yield
    mtasts._failed_until.clear()
