"""Pieces the benchmarks share: machine facts, statistics, messages, the sink process, the gateway and load clients.

Run every benchmark from the repository root (``python -m bench.accept``)
so that ``tests.support`` imports. Everything listens on and connects to
127.0.0.1 only, and the gateway's resolver points at a loopback port where
nothing listens, so no DNS query can leave the machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import platform
import queue
import re
import resource
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trustme
from tests.support.gateway import ADMIN, ADMIN_PASSWORD, CARESEAL, Gateway
from tests.support.sinks import free_port

from bench.smtpclient import SMTPClient, TransactionTiming

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SENDER = ADMIN
RECIPIENT = "pat@patient.test"
CLIENT_HELO = "client.bench.test"
SINK_HOSTNAME = "mx.patient.test"
KIB = 1024
MIB = 1024 * 1024


# Signals and results


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` blocks stop every server this process started."""
    def raise_interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, raise_interrupt)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write *payload* as bench/results/NAME.json (replacing an older run's file) and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return path


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# Statistics


def percentile(values: list[float], q: float) -> float:
    """Return the nearest-rank *q*-th percentile of *values* (the smallest value with q% at or below it)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize_ms(seconds: list[float]) -> dict[str, float | None]:
    """Return count, p50, p90, p99 and max of durations given in seconds, in milliseconds (None when empty)."""
    if not seconds:
        return {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "count": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 3),
        "p90_ms": round(percentile(seconds, 90) * 1000, 3),
        "p99_ms": round(percentile(seconds, 99) * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3),
    }


# Machine facts


def machine_facts(data_dir: Path) -> dict[str, Any]:
    """Return the facts BENCHMARKS.md lists for the machine, with an fsync probe of *data_dir*'s disk."""
    return {
        "nproc": int(_run(["nproc"]) or os.cpu_count() or 0),
        "memory": _meminfo_total(),
        "cpu_model": _cpu_model(),
        "disk": _run(["df", "-h", str(data_dir)]).splitlines()[-1:],
        "python": platform.python_version(),
        "os": _os_release(),
        "kernel": platform.release(),
        "postfix": _run(["postconf", "-d", "-h", "mail_version"]) or "not installed",
        "data_dir": str(data_dir),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "git": _run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
        "fsync_probe": fsync_probe(data_dir),
    }


def fsync_probe(directory: Path, repeats: int = 60) -> dict[str, dict[str, float]]:
    """Time the durable writes an accept makes, on *directory*'s file system.

    Each timed step matches one in the gateway: a new file written and
    fsynced (4 KiB and 1 MiB), a directory fsync, and one small-row commit
    to SQLite in WAL mode with synchronous=FULL (as careseal.settings sets).
    """
    probe = directory / "fsync-probe"
    probe.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    for label, size in (("write_fsync_4k", 4 * KIB), ("write_fsync_1m", MIB)):
        data = os.urandom(size)
        durations = []
        for index in range(repeats):
            started = time.monotonic()
            fd = os.open(probe / f"{label}-{index}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            durations.append(time.monotonic() - started)
        results[label] = summarize_ms(durations)

    durations = []
    for _ in range(repeats):
        started = time.monotonic()
        fd = os.open(probe, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        durations.append(time.monotonic() - started)
    results["fsync_directory"] = summarize_ms(durations)

    connection = sqlite3.connect(probe / "probe.sqlite3", isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("CREATE TABLE row (content TEXT)")
        durations = []
        for _ in range(repeats * 3):
            started = time.monotonic()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO row VALUES (?)", ("x" * 300,))
            connection.execute("COMMIT")
            durations.append(time.monotonic() - started)
        results["sqlite_wal_full_commit"] = summarize_ms(durations)
    finally:
        connection.close()
    for path in probe.iterdir():
        path.unlink()
    probe.rmdir()
    return results


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False).stdout.strip()
    except OSError:
        return ""


def _meminfo_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / (1024 * 1024):.1f} GiB"
    return "unknown"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _os_release() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


# CPU accounting


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """Return *pid* and all its live descendants."""
    found = [pid]
    index = 0
    while index < len(found):
        current = found[index]
        index += 1
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                found.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def tree_cpu_seconds(root_pid: int, label: Callable[[int], str]) -> dict[str, float]:
    """Return user+system CPU seconds of the tree under *root_pid*, summed per ``label(pid)``.

    Each process counts its own time plus that of children it has reaped, so
    work done by processes that exited during a run stays in the total.
    """
    totals: dict[str, float] = {}
    for pid in process_tree(root_pid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            name = label(pid)
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
        totals[name] = totals.get(name, 0.0) + ticks / CLOCK_TICKS
    return totals


def cpu_difference(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    names = set(before) | set(after)
    return {name: round(after.get(name, 0.0) - before.get(name, 0.0), 3) for name in sorted(names)}


POSTGRES_CLIENT_BACKEND = re.compile(r"^postgres: \S+ (\S+) (\d[\d.:a-f]*\(\d+\)|\[local\])")


def postgres_cpu_seconds(database: str) -> dict[str, float]:
    """Return CPU seconds of the PostgreSQL server processes that work for *database*.

    Counts every "postgres" process except client backends of other
    databases (their title reads "postgres: USER DATABASE HOST(PORT) ..."),
    so a test run on another database does not count. Backends that exited
    count through the postmaster's reaped-children time, whatever their database.
    """
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        backend = POSTGRES_CLIENT_BACKEND.match(title)
        if backend and backend.group(1) != database:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    return {"postgres": total}


def machine_cpu_seconds() -> dict[str, float]:
    """Return busy and total CPU seconds of the whole machine, summed over all CPUs, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return {"busy": busy / CLOCK_TICKS, "total": (busy + idle + iowait) / CLOCK_TICKS}


class QuietGate:
    """A wait for a mostly idle machine before each measurement, bounded by a total time budget.

    On a shared machine other work (a test suite, a browser) takes CPU from
    the servers under test. Waiting for a quiet moment cannot stop such work
    from starting mid-measurement, and the "other" CPU figure of CpuMeter
    shows when it did.
    """

    def __init__(self, budget: float = 20.0, busy_threshold: float = 0.15) -> None:
        self.remaining = budget
        self.busy_threshold = busy_threshold

    def wait(self, sample: float = 0.5) -> float:
        """Sample the machine until its busy share is below the threshold; return the seconds waited."""
        waited = 0.0
        while self.remaining > 0:
            before = machine_cpu_seconds()
            time.sleep(sample)
            after = machine_cpu_seconds()
            waited += sample
            self.remaining -= sample
            total = after["total"] - before["total"]
            if total > 0 and (after["busy"] - before["busy"]) / total < self.busy_threshold:
                break
        return waited


QUIET = QuietGate()


class CpuMeter:
    """CPU seconds of several process groups, and of the whole machine, between ``start()`` and ``finish()``.

    Each reader returns CPU seconds by label, as tree_cpu_seconds does. The
    machine's busy time minus every group's time is what other processes
    used: on a shared machine that shows how quiet the run was.
    """

    def __init__(self, **readers: Callable[[], dict[str, float]]) -> None:
        self.readers = {**readers, "machine": machine_cpu_seconds}
        self.before: dict[str, dict[str, float]] = {}
        self.after: dict[str, dict[str, float]] = {}

    def start(self) -> None:
        self.before = {name: read() for name, read in self.readers.items()}

    def finish(self) -> None:
        self.after = {name: read() for name, read in self.readers.items()}

    def seconds(self) -> dict[str, dict[str, float]]:
        """Return the CPU seconds used per group and label, plus "other" under "machine"."""
        used = {name: cpu_difference(self.before.get(name, {}), self.after.get(name, {})) for name in self.readers}
        ours = sum(sum(values.values()) for name, values in used.items() if name != "machine")
        used["machine"]["other"] = round(used["machine"]["busy"] - ours, 3)
        return used


def gateway_role(pid: int) -> str:
    """Return the CareSeal role a process runs (from ``--role`` on its command line), else "supervisor"."""
    arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    if b"--role" in arguments:
        return arguments[arguments.index(b"--role") + 1].decode()
    return "supervisor"


def own_cpu_seconds() -> dict[str, float]:
    """Return this process's CPU seconds, labelled "client" because the load clients run here."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"client": usage.ru_utime + usage.ru_stime}


# Messages


BODY_LINE = b"Lab results for the benchmark patient: all values within the reference range.\r\n"


def message_parts(bench_id: str, size: int) -> tuple[bytes, bytes]:
    """Return header and body of a plain-text message of about *size* bytes (within 2) tagged with *bench_id*."""
    header = (
        f"From: {SENDER}\r\n"
        f"To: {RECIPIENT}\r\n"
        f"Subject: CareSeal benchmark message {bench_id}\r\n"
        f"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n"
        f"Message-ID: <{bench_id}@bench.clinic.test>\r\n"
        f"X-Bench-Id: {bench_id}\r\n"
        "\r\n"
    ).encode("ascii")
    return header, _body(max(0, size - len(header)))


_BODIES: dict[int, bytes] = {}


def _body(length: int) -> bytes:
    if length not in _BODIES:
        lines, rest = divmod(length, len(BODY_LINE))
        tail = b"x" * (rest - 2) + b"\r\n" if rest >= 2 else b""
        _BODIES[length] = BODY_LINE * lines + tail
    return _BODIES[length]


# Certificates and the sink process


class BenchCA:
    """A trustme CA whose certificate and key are written to *directory* for other processes."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        directory.mkdir(parents=True, exist_ok=True)
        self.cert_path = directory / "ca.pem"
        self.key_path = directory / "ca.key"
        self.cert_path.write_bytes(self.ca.cert_pem.bytes())
        self.key_path.write_bytes(self.ca.private_key_pem.bytes())
        self.key_path.chmod(0o600)

    def server_files(self, directory: Path, *names: str) -> tuple[Path, Path]:
        """Issue a certificate for *names* and write it and its key as PEM files; return both paths."""
        issued = self.ca.issue_cert(*names)
        cert_path = directory / "server.crt"
        key_path = directory / "server.key"
        cert_path.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        key_path.write_bytes(issued.private_key_pem.bytes())
        key_path.chmod(0o600)
        return cert_path, key_path


@dataclass(frozen=True)
class Arrival:
    time: float
    size: int
    tls: str
    bench_id: str


@dataclass
class SinkProcess:
    """bench.sink in a child process: a TLS sink on 127.0.0.1 that reports each arrival."""

    ca: BenchCA
    log_path: Path
    arrivals: list[Arrival] = field(default_factory=list)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def __enter__(self) -> SinkProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.sink", "--ca-cert", str(self.ca.cert_path),
                 "--ca-key", str(self.ca.key_path), "--hostname", SINK_HOSTNAME],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        ready: queue.Queue[int] = queue.Queue()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        try:
            self.port = ready.get(timeout=30)
        except queue.Empty:
            self.__exit__()
            raise RuntimeError(f"sink did not start in 30 s; see {self.log_path}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def _read(self, ready: queue.Queue[int]) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            words = raw.decode("ascii", "replace").split()
            if words[:1] == ["READY"]:
                ready.put(int(words[1]))
            elif words[:1] == ["ARRIVED"] and len(words) == 5:
                arrival = Arrival(float(words[1]), int(words[2]), words[3], words[4])
                with self._changed:
                    self.arrivals.append(arrival)
                    self._changed.notify_all()

    def wait_for(self, prefix: str, count: int, timeout: float) -> list[Arrival]:
        """Wait until *count* messages whose bench id starts with *prefix* arrived; return them (fewer on timeout)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matching = [a for a in self.arrivals if a.bench_id.startswith(prefix)]
                remaining = deadline - time.monotonic()
                if len(matching) >= count or remaining <= 0:
                    return matching
                self._changed.wait(min(remaining, 1.0))

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return sum(tree_cpu_seconds(self.process.pid, lambda _pid: "sink").values())


# The gateway


class BenchGateway(Gateway):
    """tests.support.gateway.Gateway with a benchmark configuration and a submission-only start."""

    def configure_for_bench(self, sink_port: int, ca_file: Path) -> None:
        """Route patient.test and clinic.test to the sink and point DNS at a dead loopback port."""
        dead_dns_port = free_port()

        def edit(document: Any) -> None:
            routes = document["delivery"]["routes"]
            routes["patient.test"] = f"127.0.0.1:{sink_port}"
            # The sender's own domain too, so a DSN could never be sent anywhere else.
            routes["clinic.test"] = f"127.0.0.1:{sink_port}"
            document["delivery"]["ca_file"] = str(ca_file)
            document["dns"]["nameservers"] = [f"127.0.0.1:{dead_dns_port}"]

        self.configure(edit)

    def start_submission_only(self, timeout: float = 30.0) -> BenchGateway:
        """Run ``careseal run --role submission`` alone: no worker, so nothing is delivered."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*CARESEAL, "--config", str(self.config_path), "run", "--role", "submission"], env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"submission role exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            if port_open(self.submission_port):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"submission role did not listen in {timeout} s:\n{self.log()[-4000:]}")

    def cpu_by_role(self) -> dict[str, float]:
        assert self.process is not None
        return tree_cpu_seconds(self.process.pid, gateway_role)

    def shut_down(self) -> None:
        """Stop with SIGTERM as an operator would, kill what is left, and drop a PostgreSQL database."""
        try:
            self.stop(timeout=60)
        except Exception as error:  # noqa: BLE001 (cleanup goes on whatever failed)
            print(f"gateway did not stop cleanly ({error}); killing it", file=sys.stderr)
        finally:
            self.close()


def database_cpu_reader(gateway: Gateway) -> dict[str, Callable[[], dict[str, float]]]:
    """Return a CpuMeter reader for the gateway's PostgreSQL server processes, or none on SQLite."""
    if not gateway.database_url:
        return {}
    database = urlsplit(gateway.database_url).path.lstrip("/")
    return {"database": lambda: postgres_cpu_seconds(database)}


@contextmanager
def database_env(database_url: str) -> Iterator[None]:
    """Set CARESEAL_DATABASE_URL for gateways made inside the block ("" means the SQLite default)."""
    saved = os.environ.get("CARESEAL_DATABASE_URL")
    if database_url:
        os.environ["CARESEAL_DATABASE_URL"] = database_url
    else:
        os.environ.pop("CARESEAL_DATABASE_URL", None)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CARESEAL_DATABASE_URL", None)
        else:
            os.environ["CARESEAL_DATABASE_URL"] = saved


# Load


@dataclass(frozen=True)
class Target:
    """Address and session set-up (TLS context, login) for load clients."""

    port: int
    tls_context: ssl.SSLContext | None
    login: tuple[str, str] | None
    host: str = "127.0.0.1"
    recipient: str = RECIPIENT


def gateway_target(gateway: Gateway) -> Target:
    return Target(port=gateway.submission_port, tls_context=gateway.client_context(),
                  login=(ADMIN, ADMIN_PASSWORD))


@dataclass
class CellLoad:
    """Outcome of one load run: start and end times, per-message timings and errors."""

    started: float
    finished: float
    timings: dict[str, TransactionTiming]
    errors: list[str]
    capped: bool


async def send_load(target: Target, *, tag: str, size: int, connections: int, messages: int,
                    time_cap: float, warmup: int = 1,
                    on_start: Callable[[], None] | None = None,
                    on_finish: Callable[[], None] | None = None) -> CellLoad:
    """Open *connections* sessions, send *warmup* untimed messages on each, then *messages* timed ones.

    Sessions take the next message number from a shared counter, so they
    finish together. Timed messages get bench ids ``TAG-N`` and warm-up ones
    ``TAGw-R-C``, so the prefix ``TAG-`` matches only timed ones. Sending
    stops early once *time_cap* seconds have passed. *on_start* and
    *on_finish* run right before the first and after the last timed message,
    so CPU readings taken there leave out connecting, AUTH and warm-up.
    """
    clients = await asyncio.gather(*(
        SMTPClient.connect(target.host, target.port, helo=CLIENT_HELO, tls_context=target.tls_context,
                           login=target.login)
        for _ in range(connections)))
    errors: list[str] = []
    timings: dict[str, TransactionTiming] = {}
    try:
        for round_number in range(warmup):
            await asyncio.gather(*(
                client.send(SENDER, target.recipient, *message_parts(f"{tag}w-{round_number}-{index}", size))
                for index, client in enumerate(clients)))

        next_number = 0
        if on_start is not None:
            on_start()
        started = time.monotonic()
        deadline = started + time_cap

        async def session(client: SMTPClient) -> None:
            nonlocal next_number
            while next_number < messages and time.monotonic() < deadline:
                bench_id = f"{tag}-{next_number}"
                next_number += 1
                try:
                    timings[bench_id] = await client.send(SENDER, target.recipient, *message_parts(bench_id, size))
                except Exception as error:  # noqa: BLE001 (recorded; the session's state is unknown, so it stops)
                    errors.append(f"{bench_id}: {type(error).__name__}: {error}")
                    return

        await asyncio.gather(*(session(client) for client in clients))
        finished = time.monotonic()
        if on_finish is not None:
            on_finish()
    finally:
        await asyncio.gather(*(client.quit() for client in clients))
    return CellLoad(started=started, finished=finished, timings=timings, errors=errors,
                    capped=len(timings) + len(errors) < messages)


def load_summary(load: CellLoad, size: int) -> dict[str, Any]:
    """Return rate and latency figures of a load run (messages per second, MB per second, ms)."""
    count = len(load.timings)
    elapsed = (max(t.reply for t in load.timings.values()) - load.started) if count else math.nan
    values = list(load.timings.values())
    return {
        "messages": count,
        "errors": load.errors[:10],
        "error_count": len(load.errors),
        "capped": load.capped,
        "seconds": round(elapsed, 3),
        "messages_per_second": round(count / elapsed, 2) if count else 0.0,
        "megabytes_per_second": round(count * size / elapsed / 1e6, 2) if count else 0.0,
        "dot_to_reply": summarize_ms([t.reply - t.dot for t in values]),
        "data_to_reply": summarize_ms([t.reply - t.data for t in values]),
        "mail_to_reply": summarize_ms([t.reply - t.mail for t in values]),
    }


def format_ms(value: float | None) -> str:
    """Format a millisecond figure from summarize_ms for a table, "n/a" when there was no sample."""
    return "n/a" if value is None else f"{value:.2f}"


def size_label(size: int) -> str:
    return f"{size // MIB} MB" if size >= MIB else f"{size // KIB} KB"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for line in [header, ["-" * width for width in widths], *rows]:
        print("  ".join(str(cell).rjust(width) for cell, width in zip(line, widths, strict=True)))


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
