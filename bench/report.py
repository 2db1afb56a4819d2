"""Combine the JSON files in bench/results/ into Markdown tables with CareSeal/Postfix ratios.

Run from the repository root after the benchmarks (bench/run.sh does)::

    .venv/bin/python -m bench.report

Prints the tables and writes them to bench/results/summary.md. A ratio
above 1 means CareSeal is faster than Postfix on that row.
"""

from __future__ import annotations

import json
import math
from typing import Any

from bench.support import RESULTS, size_label


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def main() -> int:
    lines: list[str] = []
    accept_runs = [run for run in (load(f"accept-{database}-{mode}") for database in ("sqlite", "postgresql")
                                   for mode in ("isolated", "draining")) if run]
    postfix = load("postfix")
    relay_runs = [run for run in (load(f"relay-{database}") for database in ("sqlite", "postgresql")) if run]
    anchor = (accept_runs or relay_runs or [postfix or {}])[0]

    lines += machine_section(anchor.get("machine", {}))
    if accept_runs:
        lines += careseal_accept_section(accept_runs)
    if postfix:
        lines += postfix_accept_section(postfix)
    if accept_runs and postfix:
        lines += ratio_section(accept_runs, postfix)
    if relay_runs or postfix:
        lines += relay_section(relay_runs, postfix)
    syscalls = load("syscalls-sqlite")
    if syscalls:
        lines += syscalls_section(syscalls)

    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.md").write_text(text)
    print(text)
    return 0


def machine_section(machine: dict[str, Any]) -> list[str]:
    if not machine:
        return []
    probe = machine.get("fsync_probe", {})

    def p50(key: str) -> str:
        return f"{probe[key]['p50_ms']:.2f} ms" if key in probe else "n/a"

    return [
        "### Machine",
        "",
        f"- CPUs (`nproc`): {machine.get('nproc')}, CPU model: {machine.get('cpu_model')}, "
        f"memory: {machine.get('memory')}",
        f"- Disk (`df -h` of the data folder): `{' '.join(machine.get('disk', []))}`",
        f"- OS: {machine.get('os')}, kernel {machine.get('kernel')}, Python {machine.get('python')}, "
        f"Postfix {machine.get('postfix')}",
        f"- Load average when the first run started: {machine.get('load_average_at_start')}; "
        f"source: `{machine.get('git')}`",
        f"- fsync probe, p50: write+fsync 4 KiB {p50('write_fsync_4k')}, 1 MiB {p50('write_fsync_1m')}, "
        f"directory fsync {p50('fsync_directory')}, SQLite WAL synchronous=FULL commit {p50('sqlite_wal_full_commit')}",
        "",
    ]


def careseal_accept_section(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "### CareSeal accept (STARTTLS + AUTH PLAIN, one AUTH per connection)",
        "",
        "| database | mode | size | conns | messages | msg/s | MB/s | dot→250 p50 ms | dot→250 p99 ms "
        "| DATA→250 p50 ms | DATA→250 p99 ms | submission CPU ms/msg | other processes CPU-s | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for cell in run["cells"]:
            lines.append(
                f"| {run['database']} | {run['mode']} | {size_label(cell['size_bytes'])} | {cell['connections']} "
                f"| {cell['messages']} | {cell['messages_per_second']:.1f} | {cell['megabytes_per_second']:.2f} "
                f"| {_ms(cell['dot_to_reply'], 'p50_ms')} | {_ms(cell['dot_to_reply'], 'p99_ms')} "
                f"| {_ms(cell['data_to_reply'], 'p50_ms')} | {_ms(cell['data_to_reply'], 'p99_ms')} "
                f"| {cell['cpu_ms_per_message']['submission']:.2f} "
                f"| {cell['cpu_seconds']['machine']['other']:.1f} | {cell['error_count']} |")
    return [*lines, ""]


def postfix_accept_section(postfix: dict[str, Any]) -> list[str]:
    lines = [
        f"### Postfix {postfix['postfix_version']} accept",
        "",
        "| mode | client | size | conns | messages | msg/s | MB/s | dot→250 p50 ms | dot→250 p99 ms "
        "| Postfix CPU ms/msg | other processes CPU-s | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in postfix["accept"]:
        dot = cell.get("dot_to_reply")
        lines.append(
            f"| {cell['mode']} | {cell['client']} | {size_label(cell['size_bytes'])} | {cell['connections']} "
            f"| {cell['messages']} | {cell['messages_per_second']:.1f} | {cell['megabytes_per_second']:.2f} "
            f"| {_ms(dot, 'p50_ms')} | {_ms(dot, 'p99_ms')} "
            f"| {cell['cpu_ms_per_message']['postfix_total']:.2f} "
            f"| {cell['cpu_seconds']['machine']['other']:.1f} | {cell.get('error_count', 0)} |")
    return [*lines, ""]


def ratio_section(runs: list[dict[str, Any]], postfix: dict[str, Any]) -> list[str]:
    def postfix_rate(mode: str, client: str, size: int, connections: int) -> float:
        for cell in postfix["accept"]:
            if (cell["mode"], cell["client"], cell["size_bytes"], cell["connections"]) == (mode, client, size,
                                                                                             connections):
                return float(cell["messages_per_second"])
        return math.nan

    lines = [
        "### Accept ratio CareSeal / Postfix (msg/s over msg/s, same mode, size and connections)",
        "",
        "| CareSeal run | size | conns | CareSeal msg/s | Postfix smtp-source msg/s | ratio "
        "| Postfix Python client msg/s | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for cell in run["cells"]:
            size, connections, rate = cell["size_bytes"], cell["connections"], cell["messages_per_second"]
            source = postfix_rate(run["mode"], "smtp-source", size, connections)
            python = postfix_rate(run["mode"], "python-starttls", size, connections)
            lines.append(
                f"| {run['database']} {run['mode']} | {size_label(size)} | {connections} | {rate:.1f} "
                f"| {source:.1f} | {_ratio(rate, source)} | {python:.1f} | {_ratio(rate, python)} |")
    return [*lines, ""]


def relay_section(runs: list[dict[str, Any]], postfix: dict[str, Any] | None) -> list[str]:
    rows = [(f"CareSeal ({run['database']}), verified TLS out", run) for run in runs]
    if postfix:
        rows += [(result["label"], result) for result in postfix["relay"]]
    lines = [
        "### Relay: 4 KB messages, 20 client connections, first MAIL to last arrival at the sink",
        "",
        "| system | delivered | seconds | relay msg/s | accept msg/s meanwhile | MAIL→arrival p50 ms "
        "| MAIL→arrival p99 ms | other processes CPU-s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, result in rows:
        lines.append(
            f"| {label} | {result['delivered']} | {result['relay_seconds']:.2f} "
            f"| {result['relay_messages_per_second']:.1f} | {result['accept']['messages_per_second']:.1f} "
            f"| {_ms(result['mail_to_arrival'], 'p50_ms')} | {_ms(result['mail_to_arrival'], 'p99_ms')} "
            f"| {result['cpu_seconds']['machine']['other']:.1f} |")
    lines.append("")
    if runs and postfix:
        lines.append("| ratio CareSeal / Postfix (relay msg/s) | vs smtp-source → smtp-sink "
                     "| vs Python client → TLS sink |")
        lines.append("|---|---:|---:|")
        plain, verified = postfix["relay"]
        for run in runs:
            rate = run["relay_messages_per_second"]
            lines.append(f"| CareSeal ({run['database']}) | {_ratio(rate, plain['relay_messages_per_second'])} "
                         f"| {_ratio(rate, verified['relay_messages_per_second'])} |")
        lines.append("")
    return lines


def syscalls_section(syscalls: dict[str, Any]) -> list[str]:
    lines = [
        f"### Submission process system calls per accepted 4 KB message ({syscalls['database']}, strace -f -c -w)",
        "",
        "| conns | messages | fsync | fdatasync | clock_nanosleep | futex | seconds asleep per message |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in syscalls["runs"]:
        per = run["calls_per_message"]
        lines.append(f"| {run['connections']} | {run['messages']} | {per.get('fsync', 0):.2f} "
                     f"| {per.get('fdatasync', 0):.2f} | {per.get('clock_nanosleep', 0):.2f} "
                     f"| {per.get('futex', 0):.1f} | {run['sleep_seconds_per_message']:.4f} |")
    return [*lines, ""]


def _ratio(numerator: float, denominator: float) -> str:
    if not denominator or math.isnan(denominator):
        return "n/a"
    return f"{numerator / denominator:.3f}"


def _ms(summary: dict[str, Any] | None, key: str) -> str:
    if not summary or key not in summary or summary[key] is None or math.isnan(summary[key]):
        return "n/a"
    return f"{summary[key]:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
