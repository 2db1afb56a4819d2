from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.dns import KnotServer


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
