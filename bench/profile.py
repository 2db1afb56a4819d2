"""Sample where the submission process spends CPU time, with Linux perf.

Runs ``careseal run --role submission`` alone with PYTHONPERFSUPPORT=1
(Python 3.12 and newer then name Python functions to perf as ``py::...``),
records ``perf record --call-graph dwarf`` for the timed part of a 1 MB and
a 4 KB run over one connection, and prints for each:

* the share of samples per shared object (interpreter, kernel, libcrypto,
  libsqlite3, ...);
* the Python functions with the largest inclusive share.

DWARF unwinding copies a fixed slice of each thread's stack, so deep Python
stacks are often cut short and many samples name no Python function: read
the shares as lower bounds. perf also slows the process, so the rates
printed are not benchmark figures.

    .venv/bin/python -m bench.profile

Writes bench/results/profile-SIZE.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.sinks import free_port

from bench.support import (
    KIB,
    MIB,
    RESULTS,
    BenchCA,
    BenchGateway,
    database_env,
    gateway_target,
    load_summary,
    send_load,
    size_label,
    stop_on_sigterm,
)

CELLS = [(MIB, 40), (4 * KIB, 400)]
STACK_BYTES = 32768
FREQUENCY = 499


def main() -> int:
    parser = argparse.ArgumentParser(description="Sample the submission process with perf (SQLite, one connection).")
    parser.parse_args()
    stop_on_sigterm()
    if shutil.which("perf") is None:
        print("profile: perf is not installed; skipped")
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="careseal-bench-profile-"))
    try:
        ca = BenchCA(workdir / "ca")
        with database_env(""):
            gateway = BenchGateway(workdir / "gateway")
            try:
                gateway.init()
                gateway.configure_for_bench(free_port(), ca.cert_path)  # no worker runs, so nothing is sent there
                gateway.env["PYTHONPERFSUPPORT"] = "1"
                gateway.start_submission_only()
                for size, count in CELLS:
                    report = profile_cell(gateway, workdir, size, count)
                    RESULTS.mkdir(parents=True, exist_ok=True)
                    path = RESULTS / f"profile-{size_label(size).replace(' ', '').lower()}.txt"
                    path.write_text(report)
                    print(report)
                    print(f"written to {path}\n")
            finally:
                gateway.shut_down()
                if gateway.process is not None:
                    Path(f"/tmp/perf-{gateway.process.pid}.map").unlink(missing_ok=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def profile_cell(gateway: BenchGateway, workdir: Path, size: int, count: int) -> str:
    assert gateway.process is not None
    data = workdir / f"perf-{size}.data"
    recorder: dict[str, subprocess.Popen[bytes]] = {}

    def start() -> None:
        recorder["process"] = subprocess.Popen(
            ["perf", "record", "-q", "-F", str(FREQUENCY), "--call-graph", f"dwarf,{STACK_BYTES}",
             "-o", str(data), "-p", str(gateway.process.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # let perf attach to every thread

    def finish() -> None:
        recorder["process"].send_signal(signal.SIGINT)
        recorder["process"].wait(60)

    load = asyncio.run(send_load(gateway_target(gateway), tag=f"prof{size // KIB}k", size=size, connections=1,
                                 messages=count, time_cap=120, on_start=start, on_finish=finish))
    rate = load_summary(load, size)["messages_per_second"]
    by_object = _perf_report(data, ["--no-children", "--sort", "dso"], limit=0.5)
    by_function = [line for line in _perf_report(data, ["--children", "--sort", "sym"], limit=1.0)
                   if "py::" in line][:25]
    return "\n".join([
        f"# {size_label(size)} messages over one connection, {len(load.timings)} timed, "
        f"{rate} msg/s under perf ({FREQUENCY} Hz, dwarf {STACK_BYTES} bytes)",
        "",
        "## Samples per shared object (self)",
        *by_object,
        "",
        "## Python functions by inclusive share (children included)",
        *by_function,
        "",
    ])


def _perf_report(data: Path, sort: list[str], limit: float) -> list[str]:
    result = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "-g", "none", "--percent-limit", str(limit), *sort],
        capture_output=True, text=True, timeout=300, check=False)
    return [line.rstrip() for line in result.stdout.splitlines() if line.strip() and not line.startswith("#")]


if __name__ == "__main__":
    raise SystemExit(main())
