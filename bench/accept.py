"""Accept throughput and latency of CareSeal's submission port.

Starts a real gateway (``careseal init`` and ``careseal run``, through
tests.support.gateway). For each message size and number of connections
it opens that many sessions (STARTTLS, then AUTH PLAIN once each) and
sends one untimed warm-up message per session. Then the sessions send a
fixed number of timed messages, each as soon as the previous reply came.

Modes:

* ``isolated``: only ``careseal run --role submission`` runs, so no worker
  delivers and the accept path has the machine to itself.
* ``draining``: the whole gateway runs with routes for the recipient and
  sender domains pointing at a loopback TLS sink (bench.sink, in its own
  process), so the worker delivers while accepts go on.

``--storage s3`` keeps sealed content in a bucket of OpenStack Swift's S3
API, started on loopback over HTTPS (tests.support.s3), instead of local
files.

Run from the repository root::

    .venv/bin/python -m bench.accept --mode isolated
    .venv/bin/python -m bench.accept --mode isolated --storage s3
    CARESEAL_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench.accept

Writes bench/results/accept-DATABASE-MODE.json (accept-DATABASE-s3-MODE.json
with S3 storage) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import trustme
from tests.support.s3 import SwiftS3, configure_gateway

from bench.support import (
    KIB,
    MIB,
    QUIET,
    BenchCA,
    BenchGateway,
    CpuMeter,
    SinkProcess,
    database_cpu_reader,
    database_env,
    format_ms,
    gateway_target,
    load_summary,
    machine_facts,
    now_utc,
    own_cpu_seconds,
    print_table,
    send_load,
    size_label,
    stop_on_sigterm,
    write_results,
)

DEFAULT_CELLS = [(4 * KIB, 1, 400), (4 * KIB, 20, 400), (MIB, 1, 80), (MIB, 20, 80)]


def main() -> int:
    parser = argparse.ArgumentParser(description="Measure accept throughput and latency of the submission port.")
    parser.add_argument("--mode", choices=("isolated", "draining"), default="isolated",
                        help="isolated: submission role only; draining: whole gateway delivering to a TLS sink")
    parser.add_argument("--database-url", default=os.environ.get("CARESEAL_DATABASE_URL", ""),
                        help="PostgreSQL server URL; each run creates and drops a database on it "
                             "(default: $CARESEAL_DATABASE_URL, else SQLite)")
    parser.add_argument("--storage", choices=("file", "s3"), default="file",
                        help="file: local files (default); s3: a Swift S3 bucket on loopback")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every cell's message count by this factor (default 1: 400 of 4 KB, 80 of 1 MB)")
    parser.add_argument("--sizes", default="4096,1048576",
                        help="comma-separated message sizes in bytes to run (default 4096,1048576)")
    parser.add_argument("--connections", default="1,20",
                        help="comma-separated connection counts to run (default 1,20)")
    parser.add_argument("--cell-time-cap", type=float, default=60.0,
                        help="seconds after which a cell stops sending (default 60)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for the gateway's data (default: a new folder under $TMPDIR or /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder and gateway log")
    args = parser.parse_args()
    stop_on_sigterm()

    database = "postgresql" if args.database_url.startswith(("postgresql://", "postgres://")) else "sqlite"
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="careseal-bench-accept-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = {int(value) for value in args.sizes.split(",")}
    connection_counts = {int(value) for value in args.connections.split(",")}
    cells = [(size, connections, max(connections, round(count * args.scale)))
             for size, connections, count in DEFAULT_CELLS if size in sizes and connections in connection_counts]
    if not cells:
        parser.error(f"no cell matches --sizes {args.sizes} and --connections {args.connections}; "
                     f"cells are {[(size, connections) for size, connections, _ in DEFAULT_CELLS]}")
    name = f"accept-{database}-{args.mode}" if args.storage == "file" else f"accept-{database}-s3-{args.mode}"
    started = time.monotonic()
    print(f"{name}: working in {workdir}", flush=True)
    try:
        results = run(workdir, database_url=args.database_url, mode=args.mode, cells=cells,
                      time_cap=args.cell_time_cap, storage=args.storage)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    payload = {
        "benchmark": "accept",
        "database": database,
        "mode": args.mode,
        "storage": args.storage,
        "finished_at": now_utc(),
        "wall_seconds": round(time.monotonic() - started, 1),
        "machine": results.pop("machine"),
        **results,
    }
    path = write_results(name, payload)
    print_cells(name, payload["cells"])
    print(f"results: {path}")
    return 1 if any(cell["error_count"] or cell["capped"] for cell in payload["cells"]) else 0


def run(workdir: Path, *, database_url: str, mode: str, cells: list[tuple[int, int, int]],
        time_cap: float, storage: str = "file") -> dict[str, Any]:
    machine = machine_facts(workdir)
    ca = BenchCA(workdir / "ca")
    swift = SwiftS3(workdir / "swift", trustme.CA()) if storage == "s3" else None
    with database_env(database_url), SinkProcess(ca, workdir / "sink.log") as sink:
        gateway = BenchGateway(workdir / "gateway")
        try:
            gateway.init()
            gateway.configure_for_bench(sink.port, ca.cert_path)
            if swift is not None:
                swift.start()
                swift.create_bucket("careseal-bench")
                configure_gateway(gateway, swift, "careseal-bench")
            if mode == "isolated":
                gateway.start_submission_only()
            else:
                gateway.start()
            measured = [measure_cell(gateway, sink, size, connections, count, time_cap)
                        for size, connections, count in cells]
        finally:
            gateway.shut_down()
            if swift is not None:
                swift.stop()
    return {"machine": machine, "cells": measured}


def measure_cell(gateway: BenchGateway, sink: SinkProcess, size: int, connections: int, count: int,
                 time_cap: float) -> dict[str, Any]:
    tag = f"a{size // KIB}k{connections}c"
    waited = QUIET.wait()
    meter = CpuMeter(gateway=gateway.cpu_by_role, client=own_cpu_seconds,
                     sink=lambda: {"sink": sink.cpu_seconds()}, **database_cpu_reader(gateway))
    load = asyncio.run(send_load(gateway_target(gateway), tag=tag, size=size, connections=connections,
                                 messages=count, time_cap=time_cap, on_start=meter.start, on_finish=meter.finish))
    summary = load_summary(load, size)
    cpu = meter.seconds()
    timed = max(1, summary["messages"])
    cell = {
        "size_bytes": size,
        "connections": connections,
        "requested_messages": count,
        "waited_for_quiet_seconds": waited,
        **summary,
        "cpu_seconds": cpu,
        "cpu_ms_per_message": {
            "submission": round(cpu["gateway"].get("submission", 0.0) * 1000 / timed, 2),
            "gateway_total": round(sum(cpu["gateway"].values()) * 1000 / timed, 2),
            "client": round(cpu["client"]["client"] * 1000 / timed, 2),
            "sink": round(cpu["sink"]["sink"] * 1000 / timed, 2),
            "database_server": round(cpu.get("database", {}).get("postgres", 0.0) * 1000 / timed, 2),
        },
    }
    print(f"  {size_label(size)} x {connections} connections: {cell['messages_per_second']} msg/s, "
          f"dot->250 p50 {cell['dot_to_reply']['p50_ms']} ms, p99 {cell['dot_to_reply']['p99_ms']} ms, "
          f"other processes used {cpu['machine']['other']:.1f} CPU-s"
          f"{'  ERRORS: ' + str(cell['errors'][:2]) if cell['errors'] else ''}", flush=True)
    return cell


def print_cells(name: str, cells: list[dict[str, Any]]) -> None:
    print(f"\n{name}")
    rows = []
    for cell in cells:
        rows.append([
            size_label(cell["size_bytes"]), str(cell["connections"]), str(cell["messages"]),
            f"{cell['messages_per_second']:.1f}", f"{cell['megabytes_per_second']:.2f}",
            format_ms(cell["dot_to_reply"]["p50_ms"]), format_ms(cell["dot_to_reply"]["p99_ms"]),
            format_ms(cell["data_to_reply"]["p50_ms"]), format_ms(cell["data_to_reply"]["p99_ms"]),
            f"{cell['cpu_ms_per_message']['submission']:.1f}", f"{cell['cpu_ms_per_message']['client']:.1f}",
            str(cell["error_count"]),
        ])
    print_table(["size", "conns", "msgs", "msg/s", "MB/s", "dot p50 ms", "dot p99 ms", "DATA p50 ms",
                 "DATA p99 ms", "submission CPU ms/msg", "client CPU ms/msg", "errors"], rows)


if __name__ == "__main__":
    raise SystemExit(main())
