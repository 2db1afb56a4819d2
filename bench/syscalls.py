"""Count the submission process's system calls per accepted message, with strace.

Runs ``careseal run --role submission`` alone (on SQLite unless
CARESEAL_DATABASE_URL or --database-url names PostgreSQL), attaches
``strace -f -c`` for the timed part of a 4 KB run with 1 and then 20
connections, and reports calls per message for fsync, fdatasync,
clock_nanosleep and futex. strace slows every system call, so the rates
printed here are not benchmark figures; the counts are what this is for.

    .venv/bin/python -m bench.syscalls

Writes bench/results/syscalls-DATABASE.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.sinks import free_port

from bench.support import (
    KIB,
    BenchCA,
    BenchGateway,
    database_env,
    gateway_target,
    load_summary,
    now_utc,
    print_table,
    send_load,
    stop_on_sigterm,
    write_results,
)

TRACED = ("fsync", "fdatasync", "clock_nanosleep", "nanosleep", "futex")


def main() -> int:
    parser = argparse.ArgumentParser(description="Count the submission process's system calls per message.")
    parser.add_argument("--database-url", default=os.environ.get("CARESEAL_DATABASE_URL", ""),
                        help="PostgreSQL server URL (default: $CARESEAL_DATABASE_URL, else SQLite)")
    parser.add_argument("--messages", type=int, default=400, help="timed 4 KB messages per run (default 400)")
    args = parser.parse_args()
    stop_on_sigterm()
    if shutil.which("strace") is None:
        print("syscalls: strace is not installed; skipped")
        return 2

    database = "postgresql" if args.database_url.startswith(("postgresql://", "postgres://")) else "sqlite"
    workdir = Path(tempfile.mkdtemp(prefix="careseal-bench-syscalls-"))
    runs = []
    try:
        ca = BenchCA(workdir / "ca")
        with database_env(args.database_url):
            gateway = BenchGateway(workdir / "gateway")
            try:
                gateway.init()
                gateway.configure_for_bench(free_port(), ca.cert_path)  # no worker runs, so nothing is sent there
                gateway.start_submission_only()
                for connections in (1, 20):
                    runs.append(traced_run(gateway, workdir, connections, args.messages))
            finally:
                gateway.shut_down()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    path = write_results(f"syscalls-{database}", {"benchmark": "syscalls", "database": database,
                                                  "finished_at": now_utc(), "runs": runs})
    print_table(["conns", "messages", *[f"{name}/msg" for name in TRACED], "sleep s/msg"],
                [[str(run["connections"]), str(run["messages"]),
                  *[f"{run['calls_per_message'].get(name, 0.0):.2f}" for name in TRACED],
                  f"{run['sleep_seconds_per_message']:.4f}"] for run in runs])
    print(f"results: {path}")
    return 0


def traced_run(gateway: BenchGateway, workdir: Path, connections: int, messages: int) -> dict[str, Any]:
    assert gateway.process is not None
    output = workdir / f"strace-{connections}.txt"
    tracer: dict[str, subprocess.Popen[bytes]] = {}

    def start() -> None:
        # -w: wall-clock time in each call, so the sleep column is how long threads slept.
        tracer["process"] = subprocess.Popen(
            ["strace", "-f", "-c", "-w", "-o", str(output), "-e", f"trace={','.join(TRACED)}",
             "-p", str(gateway.process.pid)], stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # strace needs a moment to attach to every thread

    def finish() -> None:
        tracer["process"].send_signal(signal.SIGINT)
        tracer["process"].wait(30)

    load = asyncio.run(send_load(gateway_target(gateway), tag=f"s{connections}c", size=4 * KIB,
                                 connections=connections, messages=messages, time_cap=120,
                                 on_start=start, on_finish=finish))
    calls, seconds = parse_strace_summary(output.read_text())
    count = max(1, len(load.timings))
    sleep_seconds = seconds.get("clock_nanosleep", 0.0) + seconds.get("nanosleep", 0.0)
    return {
        "connections": connections,
        "messages": len(load.timings),
        "messages_per_second_under_strace": load_summary(load, 4 * KIB)["messages_per_second"],
        "calls": calls,
        "seconds": seconds,
        "calls_per_message": {name: round(value / count, 2) for name, value in calls.items()},
        "sleep_seconds_per_message": round(sleep_seconds / count, 4),
    }


def parse_strace_summary(text: str) -> tuple[dict[str, int], dict[str, float]]:
    """Return calls and seconds per system call from ``strace -c`` output."""
    calls: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[-1] in TRACED and fields[0].replace(".", "").isdigit():
            calls[fields[-1]] = int(fields[3])
            seconds[fields[-1]] = float(fields[1])
    return calls, seconds


if __name__ == "__main__":
    raise SystemExit(main())
