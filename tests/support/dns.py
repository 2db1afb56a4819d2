"""Run Knot DNS on loopback as an authoritative server for test zones.

``KnotServer`` writes a knotd configuration and one zone file per zone into
a folder of the test's own, starts ``knotd -c CONF`` in the foreground, and
waits until every zone returns its SOA record. All run-time files (control
socket, timer database) stay inside that folder. Answer rotation is on, so
the order of records in an answer varies with the query ID, as it may with
any DNS server. Written for Knot DNS 3.2 (Debian's ``knot`` package).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

KNOTD = "/usr/sbin/knotd"
HOST = "127.0.0.1"
START_TIMEOUT = 10.0  # seconds allowed for knotd to load every zone
STOP_TIMEOUT = 5.0  # seconds after SIGTERM before knotd is killed


def free_udp_tcp_port(host: str = HOST) -> int:
    """Return a port that is free for both UDP and TCP on *host* at the time of the call."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"found no port free for both UDP and TCP on {host}")


class KnotServer:
    """An authoritative knotd on ``127.0.0.1`` that serves the zones given to :meth:`start`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.host = HOST
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = directory / "knotd.log"

    def start(self, zones: dict[str, str]) -> tuple[str, int]:
        """Write *zones* (zone name to zone file text), start knotd and return its ``(host, port)``."""
        if self.process is not None:
            raise RuntimeError("knotd is already running")
        if not zones:
            raise ValueError("knotd needs at least one zone to serve")
        names = [name.rstrip(".").lower() for name in zones]

        zone_dir = self.directory / "zones"
        run_dir = self.directory / "run"
        storage_dir = self.directory / "storage"
        for folder in (zone_dir, run_dir, storage_dir):
            folder.mkdir(parents=True, exist_ok=True)
        for name, text in zip(names, zones.values(), strict=True):
            (zone_dir / f"{name}.zone").write_text(text, encoding="ascii")

        self.port = free_udp_tcp_port(self.host)
        config_path = self.directory / "knot.conf"
        config_path.write_text(self._config(names, zone_dir, run_dir, storage_dir), encoding="ascii")

        with self.log_path.open("wb") as log:
            # -s repeats the control socket path, so knotd uses no default path under /run/knot.
            self.process = subprocess.Popen(
                [KNOTD, "-c", str(config_path), "-s", str(run_dir / "knot.sock")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_serving(names)
        except BaseException:
            self.stop()
            raise
        return self.host, self.port

    def stop(self) -> None:
        """Terminate knotd, killing it when it does not exit within ``STOP_TIMEOUT`` seconds."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> KnotServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def _config(self, names: list[str], zone_dir: Path, run_dir: Path, storage_dir: Path) -> str:
        # No "user" key, so knotd runs as the user that started it (checked as
        # root and as nobody). The journal is off and zone files are never
        # synced back, so the zone folder contains exactly what the test wrote.
        zone_lines = "".join(f"  - domain: {name}.\n" for name in names)
        return (
            "server:\n"
            f'    rundir: "{run_dir}"\n'
            f"    listen: {self.host}@{self.port}\n"
            "    udp-workers: 1\n"
            "    tcp-workers: 1\n"
            "    background-workers: 1\n"
            "    answer-rotation: on\n"
            "control:\n"
            f'    listen: "{run_dir / "knot.sock"}"\n'
            "log:\n"
            "  - target: stderr\n"
            "    any: info\n"
            "database:\n"
            f'    storage: "{storage_dir}"\n'
            "template:\n"
            "  - id: default\n"
            f'    storage: "{zone_dir}"\n'
            '    file: "%s.zone"\n'
            "    zonefile-sync: -1\n"
            "    journal-content: none\n"
            "zone:\n"
            f"{zone_lines}"
        )

    def _wait_until_serving(self, names: list[str]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        waiting = list(names)
        while waiting:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"knotd exited with status {self.process.returncode}; "
                                   f"log:\n{self.log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"knotd did not serve zones {waiting} within {START_TIMEOUT} s; "
                                   f"log:\n{self.log_path.read_text(errors='replace')}")
            if self._serves(waiting[0]):
                waiting.pop(0)
            else:
                time.sleep(0.05)

    def _serves(self, name: str) -> bool:
        query = dns.message.make_query(f"{name}.", dns.rdatatype.SOA)
        try:
            response = dns.query.udp(query, self.host, port=self.port, timeout=0.2)
        except (dns.exception.Timeout, OSError):
            return False
        return response.rcode() == dns.rcode.NOERROR and len(response.answer) == 1


def zone(origin: str, *records: str) -> str:
    """Return zone file text for *origin* with SOA and NS records followed by *records*."""
    lines = [
        f"$ORIGIN {origin}.",
        "$TTL 300",
        f"@ SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 300",
        "@ NS ns",
        "ns A 127.0.0.53",
        *records,
    ]
    return "\n".join(lines) + "\n"
