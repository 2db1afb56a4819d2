"""Relay throughput of CareSeal: submission port in, verified TLS out to a loopback sink.

Starts a whole gateway (``careseal run``: submission, worker and web
processes) with ``[delivery.routes]`` sending patient.test to a TLS sink
(bench.sink, in its own process, certificate from a trustme CA that the
gateway trusts through ``ca_file``). First a warm-up message per connection
is sent and delivered. Then the clients queue N messages as fast as the
gateway accepts them, and the run ends when the sink has received all N.

Reported: messages per second from the first timed MAIL command to the
last arrival at the sink, the accept rate during that time, and latency
percentiles per message from MAIL to arrival and from the 250 reply to
arrival. Every message is queued at once, so later messages wait behind
earlier ones and the latency percentiles mostly measure that backlog.

Run from the repository root::

    .venv/bin/python -m bench.relay
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.support import (
    KIB,
    QUIET,
    BenchCA,
    BenchGateway,
    CpuMeter,
    SinkProcess,
    Target,
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
    summarize_ms,
    write_results,
)


def main() -> int:
    parser = argparse.ArgumentParser(description="Measure relay throughput: submission to verified-TLS delivery.")
    parser.add_argument("--database-url", default=os.environ.get("CARESEAL_DATABASE_URL", ""),
                        help="PostgreSQL server URL; the run creates and drops a database on it "
                             "(default: $CARESEAL_DATABASE_URL, else SQLite)")
    parser.add_argument("--messages", type=int, default=500, help="timed messages (default 500)")
    parser.add_argument("--size", type=int, default=4 * KIB, help="message size in bytes (default 4096)")
    parser.add_argument("--connections", type=int, default=20, help="client connections (default 20)")
    parser.add_argument("--time-cap", type=float, default=150.0,
                        help="seconds to wait for all messages to arrive before giving up (default 150)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for the gateway's data (default: a new folder under $TMPDIR or /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder and gateway log")
    args = parser.parse_args()
    stop_on_sigterm()

    database = "postgresql" if args.database_url.startswith(("postgresql://", "postgres://")) else "sqlite"
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="careseal-bench-relay-"))
    workdir.mkdir(parents=True, exist_ok=True)
    name = f"relay-{database}"
    started = time.monotonic()
    print(f"{name}: working in {workdir}", flush=True)
    try:
        machine = machine_facts(workdir)
        ca = BenchCA(workdir / "ca")
        with database_env(args.database_url), SinkProcess(ca, workdir / "sink.log") as sink:
            gateway = BenchGateway(workdir / "gateway")
            try:
                gateway.init()
                gateway.configure_for_bench(sink.port, ca.cert_path)
                gateway.start()
                meter = CpuMeter(gateway=gateway.cpu_by_role, client=own_cpu_seconds,
                                 sink=lambda: {"sink": sink.cpu_seconds()}, **database_cpu_reader(gateway))
                result = measure_relay(gateway_target(gateway), sink, meter, size=args.size,
                                       connections=args.connections, messages=args.messages,
                                       time_cap=args.time_cap)
                statuses = Counter(row["status"] for row in gateway.queue())
                result["queue_statuses"] = dict(statuses)
            finally:
                gateway.shut_down()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    payload = {"benchmark": "relay", "system": "careseal", "database": database, "finished_at": now_utc(),
               "wall_seconds": round(time.monotonic() - started, 1), "machine": machine, **result}
    path = write_results(name, payload)
    print_relay([(f"CareSeal ({database})", payload)])
    print(f"queue after the run: {payload['queue_statuses']}")
    print(f"results: {path}")
    return 0 if result["delivered"] == args.messages and not result["accept"]["error_count"] else 1


def measure_relay(target: Target, sink: SinkProcess, meter: CpuMeter, *, size: int, connections: int,
                  messages: int, time_cap: float, tag: str = "r") -> dict[str, Any]:
    """Warm up, queue *messages* through *target*, wait for them at *sink* and return the figures."""
    warm = asyncio.run(send_load(target, tag=f"{tag}warm", size=size, connections=connections,
                                 messages=connections, time_cap=time_cap, warmup=0))
    sink.wait_for(f"{tag}warm-", len(warm.timings), timeout=time_cap)

    waited = QUIET.wait()
    load = asyncio.run(send_load(target, tag=tag, size=size, connections=connections, messages=messages,
                                 time_cap=time_cap, warmup=0, on_start=meter.start))
    arrivals = {a.bench_id: a for a in sink.wait_for(f"{tag}-", len(load.timings), timeout=time_cap)}
    meter.finish()

    delivered = [bench_id for bench_id in load.timings if bench_id in arrivals]
    last_arrival = max((arrivals[b].time for b in delivered), default=math.nan)
    elapsed = last_arrival - load.started
    cpu = meter.seconds()
    return {
        "size_bytes": size,
        "connections": connections,
        "requested_messages": messages,
        "waited_for_quiet_seconds": waited,
        "delivered": len(delivered),
        "relay_seconds": round(elapsed, 3),
        "relay_messages_per_second": round(len(delivered) / elapsed, 2) if delivered else 0.0,
        "accept": load_summary(load, size),
        "mail_to_arrival": summarize_ms([arrivals[b].time - load.timings[b].mail for b in delivered]),
        "reply_to_arrival": summarize_ms([arrivals[b].time - load.timings[b].reply for b in delivered]),
        "tls_versions": dict(Counter(arrivals[b].tls for b in delivered)),
        "cpu_seconds": cpu,
        "cpu_ms_per_message": {
            group: {label: round(seconds * 1000 / max(1, len(delivered)), 2) for label, seconds in values.items()}
            for group, values in cpu.items() if group != "machine"
        },
    }


def print_relay(rows: list[tuple[str, dict[str, Any]]]) -> None:
    table = []
    for label, result in rows:
        table.append([
            label, size_label(result["size_bytes"]), str(result["connections"]), str(result["delivered"]),
            f"{result['relay_seconds']:.2f}", f"{result['relay_messages_per_second']:.1f}",
            f"{result['accept']['messages_per_second']:.1f}",
            format_ms(result["mail_to_arrival"]["p50_ms"]), format_ms(result["mail_to_arrival"]["p99_ms"]),
        ])
    print_table(["system", "size", "conns", "delivered", "seconds", "relay msg/s", "accept msg/s",
                 "MAIL->arrival p50 ms", "p99 ms"], table)


if __name__ == "__main__":
    raise SystemExit(main())
