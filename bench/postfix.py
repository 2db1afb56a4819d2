"""Postfix reference: the accept and relay measurements on a throw-away Postfix instance.

The instance uses Debian's postfix package with its own config_directory,
queue_directory and data_directory in a temporary folder (``postfix -c
DIR``), so the system's Postfix is never touched. It listens on 127.0.0.1
only and has no local domains. It resolves nothing through DNS
(``smtp_dns_support_level = disabled``, ``smtp_host_lookup = native``,
``smtpd_peername_lookup = no``). It delivers only through transport_maps
to two loopback sinks, and every other destination gets an error transport.

Two smtpd ports:

* the normal one, whose mail is delivered;
* a "hold" one whose cleanup service puts every message on the hold
  queue (``header_checks = static:HOLD``), so nothing is delivered and only
  accepting is measured, the counterpart of CareSeal's submission-only run.

Two destinations:

* patient.test goes to Postfix's smtp-sink in plain text (smtp-sink has no
  TLS), and Postfix may reuse those connections;
* tls.patient.test goes to bench.sink, the same aiosmtpd TLS sink CareSeal
  delivers to, with ``verify`` and ``match=mx.patient.test`` against the
  benchmark CA. Postfix 3.7 does not reuse TLS connections by default
  (``smtp_tls_connection_reuse = no``), so each message gets its own
  connection and handshake there, as in CareSeal.

Load comes from Postfix's smtp-source (plain text, no AUTH, as the tool
allows) and from the benchmarks' own Python client with STARTTLS but no
AUTH (this instance has no SASL set up).

Run from the repository root as root (Postfix needs it)::

    .venv/bin/python -m bench.postfix
"""

from __future__ import annotations

import argparse
import asyncio
import grp
import os
import pwd
import re
import resource
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.sinks import free_port

from bench.relay import measure_relay, print_relay
from bench.support import (
    KIB,
    MIB,
    QUIET,
    SENDER,
    BenchCA,
    CpuMeter,
    SinkProcess,
    Target,
    format_ms,
    load_summary,
    machine_facts,
    now_utc,
    own_cpu_seconds,
    port_open,
    print_table,
    send_load,
    size_label,
    stop_on_sigterm,
    summarize_ms,
    tree_cpu_seconds,
    write_results,
)

HOSTNAME = "postfix.bench.test"
PLAIN_RECIPIENT = "pat@patient.test"
TLS_RECIPIENT = "pat@tls.patient.test"
# 2.5 times CareSeal's counts (bench.accept), because Postfix is faster and
# a timed window under a second is dominated by noise on a shared machine.
DEFAULT_CELLS = [(4 * KIB, 1, 1000), (4 * KIB, 20, 1000), (MIB, 1, 200), (MIB, 20, 200)]

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:{smtpd_port} inet n - n - - smtpd
127.0.0.1:{hold_port} inet n - n - - smtpd
  -o cleanup_service_name=cleanup-hold
  -o in_flow_delay=0s
cleanup-hold unix n - n - 0 cleanup
  -o header_checks=static:HOLD
  -o in_flow_delay=0s
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


@dataclass
class PostfixInstance:
    """A Postfix instance with every file under *root*, started and stopped with ``postfix -c``."""

    root: Path
    ca: BenchCA
    plain_sink_port: int
    tls_sink_port: int
    smtpd_port: int = field(default_factory=free_port)
    hold_port: int = field(default_factory=free_port)

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.root / "queue"

    @property
    def maillog(self) -> Path:
        return self.root / "maillog"

    def setup(self) -> None:
        """Write main.cf and master.cf, create the folders with Postfix's ownership, and run ``postfix check``."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        for folder in (self.config_dir, self.queue_dir, self.root / "data", self.root / "tls"):
            folder.mkdir(exist_ok=True)
        postfix_user = pwd.getpwnam("postfix")
        data_dir = self.root / "data"
        os.chown(data_dir, postfix_user.pw_uid, postfix_user.pw_gid)
        data_dir.chmod(0o700)

        cert, key = self.ca.server_files(self.root / "tls", HOSTNAME, "127.0.0.1")
        (self.config_dir / "master.cf").write_text(
            MASTER_CF.format(smtpd_port=self.smtpd_port, hold_port=self.hold_port))
        (self.config_dir / "main.cf").write_text(self._main_cf(cert, key))
        self._postfix("check")

    def _main_cf(self, cert: Path, key: Path) -> str:
        settings = {
            "compatibility_level": "3.6",
            "config_directory": str(self.config_dir),
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.root / "data"),
            "mail_owner": "postfix",
            "setgid_group": grp.getgrnam("postdrop").gr_name,
            "syslog_name": "postfix-bench",
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.root),
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "myhostname": HOSTNAME,
            "mydomain": "bench.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "relay_domains": "",
            "relayhost": "",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "append_dot_mydomain": "no",
            "message_size_limit": str(30 * MIB),
            # No DNS, and no name lookups of any kind: loopback sinks are reached by address.
            "disable_dns_lookups": "yes",
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "smtpd_peername_lookup": "no",
            "transport_maps": (f"inline:{{patient.test=smtp:[127.0.0.1]:{self.plain_sink_port}, "
                               f"tls.patient.test=smtp:[127.0.0.1]:{self.tls_sink_port}}}"),
            "default_transport": "error:this benchmark instance delivers only to its loopback sinks",
            "local_transport": "error:this benchmark instance has no local delivery",
            # Inbound: STARTTLS offered (the Python client uses it; smtp-source cannot).
            "smtpd_tls_security_level": "may",
            "smtpd_tls_cert_file": str(cert),
            "smtpd_tls_key_file": str(key),
            # Outbound: plain text to smtp-sink, verified TLS to the TLS sink.
            "smtp_tls_security_level": "none",
            "smtp_tls_CAfile": str(self.ca.cert_path),
            "smtp_tls_policy_maps": (f"inline:{{ {{[127.0.0.1]:{self.tls_sink_port} = "
                                     f"verify match=mx.patient.test}} }}"),
        }
        return "".join(f"{name} = {value}\n" for name, value in settings.items())

    def start(self, timeout: float = 30.0) -> None:
        self._postfix("start")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_open(self.smtpd_port) and port_open(self.hold_port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"Postfix did not listen in {timeout} s; see {self.maillog}")

    def stop(self) -> None:
        """Run ``postfix stop``; fall back to ``postfix abort`` if the master is still there after 20 s."""
        pid = self.master_pid()
        if pid is None:
            return
        try:
            self._postfix("stop")
        except RuntimeError as error:
            print(f"postfix stop failed: {error}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.master_pid() == pid:
            time.sleep(0.1)
        if self.master_pid() == pid:
            self._postfix("abort", check=False)

    def master_pid(self) -> int | None:
        """Return the pid of this instance's running master process, or None."""
        try:
            pid = int((self.queue_dir / "pid" / "master.pid").read_text().split()[0])
            running = Path(f"/proc/{pid}/comm").read_text().strip() == "master"
        except (OSError, ValueError, IndexError):
            return None
        return pid if running else None

    def cpu_by_process(self) -> dict[str, float]:
        """Return CPU seconds per process name under the master.

        Only the sum is exact over an interval: a process that exits in it
        moves its time to the master, so its own label can even go negative.
        """
        pid = self.master_pid()
        if pid is None:
            return {}
        return tree_cpu_seconds(pid, lambda p: Path(f"/proc/{p}/comm").read_text().strip())

    def held_count(self) -> int:
        return sum(1 for path in (self.queue_dir / "hold").rglob("*") if path.is_file())

    def delete_held(self) -> None:
        subprocess.run(["postsuper", "-c", str(self.config_dir), "-d", "ALL", "hold"],
                       capture_output=True, timeout=120, check=False)

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca.cert_path))
        context.check_hostname = False  # the client dials 127.0.0.1; the chain is still verified
        return context

    def _postfix(self, command: str, check: bool = True) -> None:
        # The postfix command writes its messages to stderr only when that is a
        # terminal (otherwise only to the maillog, which postlogd writes only
        # while Postfix runs), so run it under script(1) to see why it failed.
        result = subprocess.run(["script", "-qec", f"postfix -c {self.config_dir} {command}", "/dev/null"],
                                capture_output=True, text=True, timeout=120, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"postfix {command} exited {result.returncode}: {result.stdout.strip()}")


class SmtpSink:
    """Postfix's smtp-sink on 127.0.0.1, with its running message counter (``-c``) read as it changes."""

    def __init__(self) -> None:
        self.port = free_port()
        self.count = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._times: list[tuple[int, float]] = []
        self._changed = threading.Condition()

    def __enter__(self) -> SmtpSink:
        self.process = subprocess.Popen(["smtp-sink", "-c", "-u", "nobody", f"127.0.0.1:{self.port}", "256"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.__exit__()
                raise RuntimeError("smtp-sink did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        pending = b""
        while chunk := self.process.stdout.read1(4096):
            pending += chunk
            *records, pending = pending.split(b"\r")
            for record in records:
                match = re.search(rb"mesg=(\d+)", record)
                if match:
                    with self._changed:
                        self.count = int(match.group(1))
                        self._times.append((self.count, time.monotonic()))
                        self._changed.notify_all()

    def cpu_seconds(self) -> dict[str, float]:
        if self.process is None:
            return {}
        return tree_cpu_seconds(self.process.pid, lambda _pid: "smtp-sink")

    def wait_for(self, count: int, timeout: float) -> float | None:
        """Wait until the sink has received *count* messages in all; return when that happened, or None."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.count < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(min(remaining, 1.0))
            return next(moment for total, moment in self._times if total >= count)


def smtp_source(port: int, *, size: int, connections: int, messages: int, recipient: str,
                timeout: float) -> dict[str, Any]:
    """Run smtp-source and return its wall time, exit code and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(
        ["smtp-source", "-s", str(connections), "-m", str(messages), "-l", str(size), "-d",
         "-f", SENDER, "-t", recipient, "-M", "client.bench.test", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=timeout, check=False)
    finished = time.monotonic()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "started": started,
        "finished": finished,
        "returncode": result.returncode,
        "stderr": result.stderr.strip()[-500:],
        "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3),
    }


def maillog_delays(maillog: Path, recipient: str) -> list[float]:
    """Return Postfix's logged ``delay=`` (seconds, arrival to delivery) of each message sent to *recipient*."""
    pattern = re.compile(rf"to=<{re.escape(recipient)}>.* delay=([0-9.]+),.* status=sent")
    delays = []
    for line in maillog.read_text(errors="replace").splitlines():
        match = pattern.search(line)
        if match:
            delays.append(float(match.group(1)))
    return delays


def main() -> int:
    parser = argparse.ArgumentParser(description="Measure a throw-away Postfix instance for reference.")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every accept cell's message count by this factor "
                             "(default 1: 1000 of 4 KB, 200 of 1 MB)")
    parser.add_argument("--relay-messages", type=int, default=500, help="messages in each relay run (default 500)")
    parser.add_argument("--time-cap", type=float, default=120.0, help="seconds allowed for each step (default 120)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for the instance (default: a new folder under $TMPDIR or /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder and its maillog")
    args = parser.parse_args()
    stop_on_sigterm()
    if shutil.which("postconf") is None or os.geteuid() != 0:
        print("postfix: needs Debian's postfix package (apt-get install -y postfix) and root; skipped")
        return 2

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="careseal-bench-postfix-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)  # Postfix's processes run as the postfix user and must reach the instance folder.
    cells = [(size, connections, max(connections, round(count * args.scale)))
             for size, connections, count in DEFAULT_CELLS]
    started = time.monotonic()
    print(f"postfix: working in {workdir}", flush=True)
    try:
        payload = run(workdir, cells=cells, relay_messages=args.relay_messages, time_cap=args.time_cap)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    payload["wall_seconds"] = round(time.monotonic() - started, 1)
    path = write_results("postfix", payload)
    print_postfix(payload)
    print(f"results: {path}")
    failed = [cell for cell in payload["accept"] if cell.get("error_count") or cell.get("returncode")]
    failed += [result for result in payload["relay"] if result["delivered"] < result["requested_messages"]]
    return 1 if failed else 0


def run(workdir: Path, *, cells: list[tuple[int, int, int]], relay_messages: int, time_cap: float) -> dict[str, Any]:
    machine = machine_facts(workdir)
    ca = BenchCA(workdir / "ca")
    with SmtpSink() as plain_sink, SinkProcess(ca, workdir / "sink.log") as tls_sink:
        instance = PostfixInstance(workdir / "postfix", ca, plain_sink.port, tls_sink.port)
        try:
            instance.setup()
            instance.start()
            version = subprocess.run(["postconf", "-h", "-c", str(instance.config_dir), "mail_version"],
                                     capture_output=True, text=True, check=False).stdout.strip()
            accept = []
            for mode, port in (("isolated", instance.hold_port), ("draining", instance.smtpd_port)):
                for size, connections, count in cells:
                    accept.append(accept_smtp_source(instance, plain_sink, mode, port, size, connections, count,
                                                     time_cap))
                    accept.append(accept_python_client(instance, plain_sink, mode, port, size, connections, count,
                                                       time_cap))
                if mode == "isolated":
                    instance.delete_held()
            relay = [relay_smtp_source(instance, plain_sink, relay_messages, time_cap),
                     relay_python_client(instance, tls_sink, relay_messages, time_cap)]
        finally:
            instance.stop()
    return {"benchmark": "postfix", "system": "postfix", "postfix_version": version, "finished_at": now_utc(),
            "machine": machine, "accept": accept, "relay": relay}


def _postfix_meter(instance: PostfixInstance, sink: SmtpSink) -> CpuMeter:
    return CpuMeter(postfix=instance.cpu_by_process, client=own_cpu_seconds, sink=sink.cpu_seconds)


def accept_smtp_source(instance: PostfixInstance, sink: SmtpSink, mode: str, port: int, size: int,
                       connections: int, count: int, time_cap: float) -> dict[str, Any]:
    # Warm-up, as the Python client does: one message per session, so Postfix has its
    # smtpd and cleanup processes running before the timed run.
    warm_up_from = sink.count
    smtp_source(port, size=size, connections=connections, messages=connections, recipient=PLAIN_RECIPIENT,
                timeout=time_cap)
    if mode == "draining":
        sink.wait_for(warm_up_from + connections, timeout=time_cap)
    sink_before = sink.count
    held_before = instance.held_count()
    meter = _postfix_meter(instance, sink)
    waited = QUIET.wait()
    meter.start()
    run = smtp_source(port, size=size, connections=connections, messages=count, recipient=PLAIN_RECIPIENT,
                      timeout=time_cap)
    meter.finish()
    elapsed = run["finished"] - run["started"]
    # smtp-source reports no per-message result, so count what Postfix queued: on the hold
    # queue, or at the sink once the queue has emptied (which also keeps cells apart).
    if mode == "draining":
        sink.wait_for(sink_before + count, timeout=time_cap)
        queued = sink.count - sink_before
    else:
        queued = instance.held_count() - held_before
    cpu = meter.seconds()
    cpu["machine"]["other"] = round(cpu["machine"]["other"] - run["cpu_seconds"], 3)
    postfix_cpu = sum(cpu["postfix"].values())
    cell = {
        "client": "smtp-source", "tls": "none", "mode": mode, "size_bytes": size, "connections": connections,
        "messages": count, "queued": queued, "error_count": count - queued, "waited_for_quiet_seconds": waited,
        "seconds": round(elapsed, 3), "returncode": run["returncode"], "stderr": run["stderr"],
        "messages_per_second": round(count / elapsed, 2),
        "megabytes_per_second": round(count * size / elapsed / 1e6, 2),
        "cpu_seconds": {**cpu, "smtp_source": {"smtp-source": run["cpu_seconds"]}},
        "cpu_ms_per_message": {"postfix_total": round(postfix_cpu * 1000 / count, 2),
                               "client": round(run["cpu_seconds"] * 1000 / count, 2)},
    }
    _progress(cell)
    return cell


def accept_python_client(instance: PostfixInstance, sink: SmtpSink, mode: str, port: int, size: int,
                         connections: int, count: int, time_cap: float) -> dict[str, Any]:
    sink_before = sink.count
    meter = _postfix_meter(instance, sink)
    target = Target(port=port, tls_context=instance.client_context(), login=None, recipient=PLAIN_RECIPIENT)
    waited = QUIET.wait()
    load = asyncio.run(send_load(target, tag=f"p{mode[0]}{size // KIB}k{connections}c", size=size,
                                 connections=connections, messages=count, time_cap=time_cap,
                                 on_start=meter.start, on_finish=meter.finish))
    if mode == "draining":
        sink.wait_for(sink_before + count + connections, timeout=time_cap)
    summary = load_summary(load, size)
    cpu = meter.seconds()
    timed = max(1, summary["messages"])
    cell = {
        "client": "python-starttls", "tls": "STARTTLS", "mode": mode, "size_bytes": size,
        "connections": connections, "waited_for_quiet_seconds": waited, **summary, "cpu_seconds": cpu,
        "cpu_ms_per_message": {"postfix_total": round(sum(cpu["postfix"].values()) * 1000 / timed, 2),
                               "client": round(cpu["client"]["client"] * 1000 / timed, 2)},
    }
    _progress(cell)
    return cell


def relay_smtp_source(instance: PostfixInstance, sink: SmtpSink, messages: int, time_cap: float) -> dict[str, Any]:
    """Relay through Postfix from smtp-source (20 sessions) to smtp-sink, in plain text on both sides."""
    recipient = "relay-plain@patient.test"
    sink_before = sink.count
    meter = _postfix_meter(instance, sink)
    waited = QUIET.wait()
    meter.start()
    run = smtp_source(instance.smtpd_port, size=4 * KIB, connections=20, messages=messages, recipient=recipient,
                      timeout=time_cap)
    last = sink.wait_for(sink_before + messages, timeout=time_cap)
    meter.finish()
    delivered = sink.count - sink_before
    elapsed = (last or time.monotonic()) - run["started"]
    time.sleep(1.0)  # postlogd writes the last delivery lines a moment after the sink has the message
    delays = maillog_delays(instance.maillog, recipient)
    cpu = meter.seconds()
    cpu["machine"]["other"] = round(cpu["machine"]["other"] - run["cpu_seconds"], 3)
    cpu["smtp_source"] = {"smtp-source": run["cpu_seconds"]}
    result = {
        "label": "Postfix, smtp-source -> smtp-sink (plain text)", "size_bytes": 4 * KIB, "connections": 20,
        "requested_messages": messages, "waited_for_quiet_seconds": waited, "delivered": delivered,
        "relay_seconds": round(elapsed, 3),
        "relay_messages_per_second": round(delivered / elapsed, 2),
        "accept": {"messages_per_second": round(messages / (run["finished"] - run["started"]), 2),
                   "error_count": int(run["returncode"] != 0)},
        # Postfix logs delay= with two significant digits, from arrival to the end of delivery.
        "mail_to_arrival": summarize_ms(delays),
        "cpu_seconds": cpu,
        "cpu_ms_per_message": {"postfix_total": round(sum(cpu["postfix"].values()) * 1000 / max(1, delivered), 2)},
    }
    print(f"  relay plain: {result['relay_messages_per_second']} msg/s", flush=True)
    return result


def relay_python_client(instance: PostfixInstance, sink: SinkProcess, messages: int,
                        time_cap: float) -> dict[str, Any]:
    """Relay through Postfix from the Python client (STARTTLS) to the TLS sink CareSeal uses, with verified TLS."""
    target = Target(port=instance.smtpd_port, tls_context=instance.client_context(), login=None,
                    recipient=TLS_RECIPIENT)
    meter = CpuMeter(postfix=instance.cpu_by_process, client=own_cpu_seconds,
                     sink=lambda: {"sink": sink.cpu_seconds()})
    result = measure_relay(target, sink, meter, size=4 * KIB, connections=20, messages=messages,
                           time_cap=time_cap, tag="pr")
    result["label"] = "Postfix, Python client (STARTTLS) -> TLS sink (verify)"
    # Only the total: processes that exit during the run move their time to the master.
    result["cpu_ms_per_message"]["postfix"] = {"total": round(
        sum(result["cpu_seconds"]["postfix"].values()) * 1000 / max(1, result["delivered"]), 2)}
    print(f"  relay verified TLS: {result['relay_messages_per_second']} msg/s", flush=True)
    return result


def _progress(cell: dict[str, Any]) -> None:
    print(f"  {cell['mode']} {cell['client']} {size_label(cell['size_bytes'])} x {cell['connections']}: "
          f"{cell['messages_per_second']} msg/s", flush=True)


def print_postfix(payload: dict[str, Any]) -> None:
    print(f"\nPostfix {payload['postfix_version']} accept")
    rows = []
    for cell in payload["accept"]:
        dot = cell.get("dot_to_reply", {})
        rows.append([cell["mode"], cell["client"], size_label(cell["size_bytes"]), str(cell["connections"]),
                     f"{cell['messages_per_second']:.1f}", f"{cell['megabytes_per_second']:.2f}",
                     format_ms(dot.get("p50_ms")), format_ms(dot.get("p99_ms")),
                     f"{cell['cpu_ms_per_message']['postfix_total']:.2f}"])
    print_table(["mode", "client", "size", "conns", "msg/s", "MB/s", "dot p50 ms", "dot p99 ms",
                 "postfix CPU ms/msg"], rows)
    print("\nPostfix relay")
    print_relay([(result["label"], result) for result in payload["relay"]])


if __name__ == "__main__":
    raise SystemExit(main())
