"""Measure the portal's message page for an escrowed 100 KB message with two attachments.

Run from the repository root, so that ``tests.support`` imports::

    .venv/bin/python -m bench.portal_page [--duration 20] [--json FILE]

The script starts a loopback SMTP sink without STARTTLS and a real gateway
(``careseal init`` and ``careseal run``) with ``[delivery] policy =
"escrow"`` and a route that sends patient.test to the sink. It queues one
message with ``careseal send`` and signs in over HTTP as the patient would:
pickup link from the notice, POST /pickup/code, code from the code mail,
POST /verify. It checks once that the message page and an attachment
return what they should, loads each with ``wrk`` for a fixed time, and
then times the view and its steps in a separate process with Django's test
client and cProfile.

Every server this script starts is stopped at the end, also on an error,
SIGTERM or the overall time limit. Nothing connects anywhere but
127.0.0.1, and the gateway's resolver points at a loopback port where
nothing listens. Needs ``wrk`` (Debian package ``wrk``). Results go to
standard output, and ``--json FILE`` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import email
import email.policy
import email.utils
import http.cookiejar
import io
import json
import os
import platform
import pstats
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PATIENT = "pat@patient.test"
SENDER = "admin@clinic.test"  # the staff account that Gateway.init creates
BODY_FIRST = "PORTAL-BENCH-BODY-START"
BODY_LAST = "PORTAL-BENCH-BODY-END"
BODY_BYTES = 40 * 1024
PDF_BYTES = 30 * 1024
CSV_BYTES = 30 * 1024
WRK_TIMEOUT = "10s"
STYLESHEET = "/static/portal.css"


class TimeLimitReached(Exception):
    """The whole run took longer than --time-limit."""


# The message


def build_message() -> tuple[bytes, bytes, bytes]:
    """Build the raw message, its PDF-like attachment and its CSV attachment, with the same bytes on every run."""
    rng = random.Random(20240601)
    words = ("blood", "pressure", "glucose", "fasting", "result", "within", "range", "follow-up", "clinic",
             "medication", "dose", "morning", "evening", "review", "normal", "repeat", "test", "weeks",
             "please", "call", "questions", "kidney", "liver", "panel", "cholesterol", "values")
    lines = [BODY_FIRST, "", "Dear patient,", ""]
    size = sum(len(line) + 2 for line in lines)
    while size < BODY_BYTES - 200:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(8, 12))).capitalize() + "."
        lines.append(line)
        size += len(line) + 2
    lines += ["", "Kind regards,", "Dr. Rivera", BODY_LAST]
    body = "\r\n".join(lines) + "\r\n"

    pdf = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    pdf += rng.randbytes(PDF_BYTES - len(pdf) - len(b"\n%%EOF\n"))
    pdf += b"\n%%EOF\n"

    rows = ["date,test,value,unit,reference"]
    day = 0
    while sum(len(row) + 1 for row in rows) < CSV_BYTES - 60:
        day += 1
        test = rng.choice(("HbA1c", "LDL", "TSH", "ALT"))
        unit = rng.choice(("%", "mmol/L", "mIU/L", "U/L"))
        value = rng.uniform(0.5, 9.5)
        rows.append(f"2024-{1 + day // 28 % 12:02d}-{1 + day % 28:02d},{test},{value:.2f},{unit},normal")
    csv = ("\n".join(rows) + "\n").encode()

    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = f"Dr. Rivera <{SENDER}>"
    message["To"] = PATIENT
    message["Subject"] = "Your results from the clinic"
    message["Date"] = email.utils.format_datetime(email.utils.localtime())
    message.set_content(body, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_attachment(bytes(pdf), maintype="application", subtype="pdf", filename="results.pdf")
    message.add_attachment(csv, maintype="text", subtype="csv", filename="history.csv")
    return message.as_bytes(), bytes(pdf), csv


# The machine and the code under test


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text()
    total = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model.group(1).strip() if model else "unknown",
        "memory_gib": round(int(total.group(1)) / 1024 / 1024, 1) if total else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def source_state() -> dict[str, Any]:
    """Return the current commit and the files under src/ that differ from it, because others edit the tree."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    changed = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines() if line.strip()]
    return {"commit": git("rev-parse", "HEAD").strip(), "changed_files_under_src": len(changed),
            "changed_paths": changed}


def snapshot_source(target: Path, env: dict[str, str], source: str, commit: str) -> None:
    """Copy src/ to *target* and make *env*'s Python import careseal from the copy.

    Without a copy, the gateway and the in-process timing could load
    different code, or a model whose migration the running gateway never
    applied. With *source* "head" the copy is *commit*, which is
    consistent. With "worktree" it is the files as they are now.
    """
    if source == "head":
        archive = subprocess.run(["git", "archive", "--format=tar", commit, "src"], cwd=ROOT, capture_output=True,
                                 timeout=60, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target.parent / "head", filter="data")
        (target.parent / "head" / "src").rename(target)
    else:
        shutil.copytree(ROOT / "src", target, ignore=shutil.ignore_patterns("__pycache__"))

    env["PYTHONPATH"] = str(target) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    found = subprocess.run([sys.executable, "-c", "import careseal; print(careseal.__file__)"], env=env,
                           capture_output=True, text=True, timeout=30).stdout.strip()
    if not found.startswith(str(target)):
        raise AssertionError(f"careseal imports from {found!r}, not from the copy in {target}")


# Processes and CPU time


def web_role_pid(supervisor: int) -> int | None:
    """Return the pid of the ``careseal run --role web`` child of *supervisor*, or None."""
    try:
        children = [int(p) for p in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()]
    except OSError:
        return None
    for pid in children:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--role" in argv and argv[argv.index(b"--role") + 1] == b"web":
            return pid
    return None


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU seconds of *pid*, all threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """Return the CPU seconds that all CPUs together have spent neither idle nor in iowait since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # The first eight fields are user, nice, system, idle, iowait, irq, softirq and steal.
    # Guest time is already counted in user and nice.
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


class QuietWaiter:
    """A wait before each run until other work on the machine stops, within one budget for the whole run.

    Other benchmarks may share the machine, and a run next to them measures
    both. The wait is best effort. When the budget is spent, runs go ahead
    and report the background load with their results.
    """

    def __init__(self, budget: float, threshold_cores: float = 0.25) -> None:
        self.budget = budget
        self.threshold = threshold_cores

    def wait(self) -> dict[str, float]:
        waited = 0.0
        while True:
            before, start = machine_busy_seconds(), time.monotonic()
            time.sleep(2.0)
            elapsed = time.monotonic() - start
            load = (machine_busy_seconds() - before) / elapsed
            if load < self.threshold or self.budget <= 0:
                return {"background_cores_before": round(load, 2), "waited_seconds": round(waited, 1)}
            self.budget -= elapsed
            waited += elapsed


# HTTP as the patient's browser does it, on loopback only


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        # The empty ProxyHandler ignores any proxy set in the environment, so requests stay on loopback.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str, bytes, Any]:
        """Send a GET, or a POST of *form*, and follow redirects. Return the status, final URL, body and headers."""
        url = path if path.startswith("http") else self.base + path
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or parts.hostname != "127.0.0.1":
            raise AssertionError(f"rejected URL {url}: only http://127.0.0.1 is allowed")
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, headers=dict(headers or {}))  # noqa: S310 (checked above)
        if data is not None:
            request.add_header("Origin", self.base)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.geturl(), response.read(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.geturl(), error.read(), error.headers

    def cookie(self, name: str) -> str:
        for cookie in self.jar:
            if cookie.name == name:
                return cookie.value or ""
        raise AssertionError(f"cookie {name} not found; cookies: {[c.name for c in self.jar]}")


def csrf_token(page: bytes) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if match is None:
        raise AssertionError("csrfmiddlewaretoken not found on the page")
    return match.group(1).decode()


def text_body(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    body = parsed.get_body(("plain",))
    return str(body.get_content()) if body is not None else ""


def wait_for_mail(sink: Any, predicate: Callable[[bytes], bool], description: str, timeout: float = 60.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for received in list(sink.messages):
            if predicate(received.content):
                return bytes(received.content)
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {description} at the sink")


def sign_in(browser: Browser, sink: Any) -> str:
    """Follow the pickup link, request a code and enter it. Return the path of the page that follows."""
    notice = wait_for_mail(sink, lambda raw: b"/p/" in raw, "the pickup notice")
    link = re.search(r"http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]+", text_body(notice))
    if link is None:
        raise AssertionError("pickup link not found in the notice")
    status, url, page, _ = browser.request(link.group(0))
    if status != 200 or not url.endswith("/pickup"):
        raise AssertionError(f"pickup link returned {status} at {url}")

    status, url, page, _ = browser.request("/pickup/code", {"csrfmiddlewaretoken": csrf_token(page)})
    if status != 200 or not url.endswith("/verify"):
        raise AssertionError(f"POST /pickup/code returned {status} at {url}")
    code_mail = wait_for_mail(sink, lambda raw: b"/p/" not in raw and re.search(rb"\b\d{6}\b", raw) is not None,
                              "the code mail")
    code = re.search(r"\b(\d{6})\b", text_body(code_mail))
    if code is None:
        raise AssertionError("6-digit code not found in the text of the code mail")

    status, url, page, _ = browser.request("/verify", {"csrfmiddlewaretoken": csrf_token(page),
                                                       "code": code.group(1)})
    path = urllib.parse.urlsplit(url).path
    if status != 200 or not path.startswith("/messages/"):
        raise AssertionError(f"POST /verify returned {status} at {url}")
    return path


def probe(base: str, path: str, session: str) -> tuple[int, bytes, int]:
    """GET *path* with only the session cookie, as wrk does. Return the status, the body and the bytes on the wire."""
    browser = Browser(base)
    status, _, body, headers = browser.request(path, headers={"Cookie": f"sessionid={session}"} if session else {})
    header_bytes = sum(len(k) + len(v) + 4 for k, v in headers.items()) + len("HTTP/1.1 200 OK\r\n\r\n")
    return status, body, len(body) + header_bytes


def check_pages(base: str, page_path: str, session: str, pdf: bytes) -> tuple[bytes, str]:
    """Check that the page shows the whole body and that its PDF link returns the PDF. Return the page and link."""
    status, page, _ = probe(base, page_path, session)
    if status != 200 or BODY_FIRST.encode() not in page or BODY_LAST.encode() not in page:
        raise AssertionError(f"message page returned {status} without the whole body text")

    links = re.findall(rb'href="(/messages/[^"]+/attachments/\d+)"', page)
    pdf_links = [link.decode() for link in links if b"results.pdf" in page.split(link, 1)[1][:200]]
    if len(links) != 2 or len(pdf_links) != 1:
        raise AssertionError(f"expected two attachment links, one of them results.pdf, found {links}")

    status, downloaded, _ = probe(base, pdf_links[0], session)
    if status != 200 or downloaded != pdf:
        raise AssertionError(f"attachment returned {status} and {len(downloaded)} bytes, not the PDF that was sent")
    return page, pdf_links[0]


# wrk


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_UNITS_BYTES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise AssertionError(f"invalid wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Parse the output of ``wrk --latency`` (wrk 4.1) into numbers with units in their names."""
    result: dict[str, Any] = {"non_2xx_3xx": 0, "socket_errors": 0}
    for q in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{q}%\s+(\S+)$", output, re.MULTILINE)
        result[f"p{q}_ms"] = _milliseconds(match.group(1)) if match else None
    match = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", output, re.MULTILINE)
    if match:
        result["mean_ms"], result["stdev_ms"], result["max_ms"] = (_milliseconds(g) for g in match.groups())

    match = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None or rate is None:
        raise AssertionError(f"wrk output could not be parsed:\n{output}")
    result["requests"] = int(match.group(1))
    result["seconds"] = _milliseconds(match.group(2) + match.group(3)) / 1000
    result["bytes_read"] = float(match.group(4)) * _UNITS_BYTES[match.group(5)]
    result["requests_per_second"] = float(rate.group(1))

    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if match:
        result["non_2xx_3xx"] = int(match.group(1))
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if match:
        result["socket_errors"] = sum(int(g) for g in match.groups())
    return result


def run_wrk(name: str, url: str, session: str, *, connections: int, threads: int, duration: int,
            web_pid: int | None, waiter: QuietWaiter | None = None, record: bool = True) -> dict[str, Any]:
    """Load *url* with wrk and return wrk's numbers with the CPU time of the web role, wrk and everything else."""
    parts = urllib.parse.urlsplit(url)
    status, _, expected_bytes = probe(f"{parts.scheme}://{parts.netloc}", parts.path, session)
    if status != 200:
        raise AssertionError(f"{parts.path} returned {status} before the {name} run")
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", f"--timeout={WRK_TIMEOUT}", "--latency"]
    if session:
        command += ["-H", f"Cookie: sessionid={session}"]
    command.append(url)

    quiet = waiter.wait() if waiter else {}
    before_machine = machine_busy_seconds()
    before_web = cpu_seconds(web_pid) if web_pid else 0.0
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_busy = machine_busy_seconds() - before_machine
    web_cpu = cpu_seconds(web_pid) - before_web if web_pid else 0.0
    if completed.returncode != 0:
        raise AssertionError(f"wrk exited {completed.returncode}: {completed.stderr}")

    result = parse_wrk(completed.stdout)
    result.update(name=name, connections=connections, threads=threads, cookie=bool(session),
                  probe_bytes_on_wire=expected_bytes, **quiet)
    requests = max(result["requests"], 1)
    result["bytes_per_request"] = round(result["bytes_read"] / requests)
    # wrk counts a 302 to the sign-in page as a success, so compare sizes with the probe's 200 response.
    result["size_matches_probe"] = abs(result["bytes_per_request"] - expected_bytes) <= 0.05 * expected_bytes
    result["web_cpu_seconds"] = round(web_cpu, 2)
    result["web_cpu_ms_per_request"] = round(1000 * web_cpu / requests, 2)
    result["web_cpu_share_of_one_core"] = round(web_cpu / result["seconds"], 2)
    wrk_cpu = (after_children.ru_utime + after_children.ru_stime
               - before_children.ru_utime - before_children.ru_stime)
    result["wrk_cpu_seconds"] = round(wrk_cpu, 2)
    # The rest is other benchmarks and tests, the gateway's other roles and the kernel's own share.
    result["other_cores_during_run"] = round((machine_busy - wrk_cpu - web_cpu) / result["seconds"], 2)

    if record:
        print(f"  {name}: {result['requests_per_second']:.1f} req/s, p50 {result['p50_ms']:.1f} ms, "
              f"p99 {result['p99_ms']:.1f} ms, {result['bytes_per_request']} B/request, "
              f"web CPU {result['web_cpu_ms_per_request']:.1f} ms/request, "
              f"other load {result['other_cores_during_run']:.2f} cores", flush=True)
    return result


# In-process timing and profile, in a child process with the gateway's settings


def _timed(function: Callable[[], object], rounds: int) -> dict[str, float]:
    function()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 3),
            "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 3)}


def _profile(get_page: Callable[[], None], rounds: int) -> dict[str, Any]:
    """Profile *rounds* page requests and sum the cumulative time of the view's main steps."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        get_page()
    profiler.disable()

    steps = {
        ("careseal/portal/views.py", "_escrow_for"): "escrow lookup (_escrow_for)",
        ("careseal/vault/blobstore.py", "get"): "blob read (LocalBlobStore.get)",
        ("careseal/vault/envelope.py", "open_sealed"): "decrypt (open_sealed)",
        ("careseal/mail/reading.py", "readable"): "parse (reading.readable)",
        ("django/shortcuts.py", "render"): "template render (shortcuts.render)",
        ("django/contrib/sessions/backends/db.py", "load"): "session load (db backend)",
        ("django/contrib/sessions/backends/db.py", "save"): "session save (db backend)",
    }
    stats = pstats.Stats(profiler)
    cumulative: dict[str, float] = {}
    total = 0.0
    # Each row of Stats.stats is (calls, primitive calls, own time, cumulative time, callers).
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        if function == get_page.__name__:
            total += row[3]
        for (suffix, name), label in steps.items():
            if function == name and filename.endswith(suffix):
                cumulative[label] = cumulative.get(label, 0.0) + row[3]

    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    return {"profile_total_ms_per_request": round(1000 * total / rounds, 2),
            "profile_cumulative_ms_per_request": {k: round(1000 * v / rounds, 2) for k, v in cumulative.items()},
            "profile_top_tottime": text.getvalue()}


def profile_child(config: str, escrow_id: str, session: str, attachment_index: int, rounds: int) -> None:
    """Time the message view, the attachment view and the view's steps, and print the result as one JSON line."""
    os.environ["CARESEAL_CONFIG"] = config
    os.environ["DJANGO_SETTINGS_MODULE"] = "careseal.settings"
    import django

    django.setup()
    from django.contrib.sessions.backends.db import SessionStore
    from django.template.loader import render_to_string
    from django.test import Client, RequestFactory

    from careseal.escrow.models import Escrow
    from careseal.mail import reading
    from careseal.queue.vault import blob_store, key_ring
    from careseal.vault import envelope

    path = f"/messages/{escrow_id}"
    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies["sessionid"] = session

    def get_page() -> None:
        response = client.get(path)
        if response.status_code != 200 or BODY_LAST.encode() not in response.content:
            raise AssertionError(f"page returned {response.status_code} without the body text")

    def get_attachment() -> None:
        response = client.get(f"{path}/attachments/{attachment_index}")
        if response.status_code != 200:
            raise AssertionError(f"attachment returned {response.status_code}")
        b"".join(response.streaming_content)

    escrow = Escrow.objects.select_related("message").get(pk=escrow_id)
    message = escrow.message
    blob = blob_store().get(message.id)
    raw = envelope.open_sealed(key_ring(), message.id, blob, message.key_id, bytes(message.wrapped_key))
    parsed = reading.readable(raw)
    request = RequestFactory().get(path, HTTP_HOST="127.0.0.1")
    request.session = SessionStore(session_key=session)

    def save_session() -> None:
        store = SessionStore(session_key=session)
        store.get("address")
        store.save()

    steps: dict[str, Callable[[], object]] = {
        "escrow row (SELECT with the message)": lambda: Escrow.objects.select_related("message").get(pk=escrow_id),
        "blob read from disk": lambda: blob_store().get(message.id),
        "unwrap key and AES-GCM decrypt": lambda: envelope.open_sealed(
            key_ring(), message.id, blob, message.key_id, bytes(message.wrapped_key)),
        "parse (reading.readable)": lambda: reading.readable(raw),
        "template render (message.html)": lambda: render_to_string(
            "portal/message.html", {"escrow": escrow, "message": parsed, "sent": False}, request=request),
        "session load and save": save_session,
        "attachment: parse and decode (reading.part_bytes)": lambda: reading.part_bytes(raw, attachment_index),
    }
    result: dict[str, Any] = {
        "rounds": rounds,
        "raw_bytes": len(raw),
        "page_view": _timed(get_page, rounds),
        "attachment_view": _timed(get_attachment, rounds),
        "parts": {name: _timed(function, rounds) for name, function in steps.items()},
        **_profile(get_page, rounds),
    }
    print("RESULT " + json.dumps(result))


def run_profile(gateway: Any, escrow_id: str, session: str, attachment_index: int, rounds: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.portal_page", "--profile-child", str(gateway.config_path), escrow_id,
               session, str(attachment_index), str(rounds)]
    completed = subprocess.run(command, cwd=ROOT, env=gateway.env, capture_output=True, text=True, timeout=180)
    line = next((x for x in completed.stdout.splitlines() if x.startswith("RESULT ")), None)
    if completed.returncode != 0 or line is None:
        raise AssertionError(f"profile child exited {completed.returncode}:\n{completed.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(line[len("RESULT "):])
    return result


# The run


def prepare_gateway(workdir: Path, sink_port: int, source: str, results: dict[str, Any]) -> Any:
    """Initialize a gateway that escrows everything and routes patient.test to the sink, without starting it."""
    from tests.support.gateway import Gateway
    from tests.support.sinks import free_port

    gateway = Gateway(workdir / "gateway")
    results["source"] = {**source_state(), "measured": source}
    snapshot_source(workdir / "src", gateway.env, source, results["source"]["commit"])
    gateway.init()
    dead_dns = free_port()

    def edit(document: Any) -> None:
        document["public_url"] = f"http://127.0.0.1:{gateway.web_port}"
        document["delivery"]["policy"] = "escrow"
        document["delivery"]["routes"]["patient.test"] = f"127.0.0.1:{sink_port}"
        document["dns"]["nameservers"] = [f"127.0.0.1:{dead_dns}"]

    gateway.configure(edit)
    return gateway


def measure(gateway: Any, sink: Any, workdir: Path, args: argparse.Namespace, results: dict[str, Any]) -> None:
    gateway.start()
    base = f"http://127.0.0.1:{gateway.web_port}"
    web_pid = web_role_pid(gateway.process.pid)
    if web_pid is None:
        raise AssertionError("the gateway's web role process was not found under its supervisor")
    print(f"gateway up on {base} (web role pid {web_pid}), sink on 127.0.0.1:{sink.port}", flush=True)

    raw, pdf, csv = build_message()
    message_file = workdir / "message.eml"
    message_file.write_bytes(raw)
    queue_id = gateway.cli("send", "--from", SENDER, "--to", PATIENT, str(message_file)).stdout.decode().strip()
    results["message"] = {"raw_bytes": len(raw), "text_body_bytes": BODY_BYTES, "pdf_bytes": len(pdf),
                          "csv_bytes": len(csv), "queue_id": queue_id}
    print(f"queued {queue_id}: {len(raw)} bytes on the wire (body {BODY_BYTES}, "
          f"PDF {len(pdf)}, CSV {len(csv)} before encoding)", flush=True)

    browser = Browser(base)
    page_path = sign_in(browser, sink)
    session = browser.cookie("sessionid")
    page, pdf_link = check_pages(base, page_path, session, pdf)
    results["page"] = {"html_bytes": len(page), "attachment_bytes": len(pdf)}
    print(f"signed in; the page has {len(page)} bytes of HTML with the whole body", flush=True)

    page_url, pdf_url, css_url = base + page_path, base + pdf_link, base + STYLESHEET
    run_wrk("warm-up", page_url, session, connections=2, threads=1, duration=3, web_pid=web_pid, record=False)
    waiter = QuietWaiter(args.quiet_wait)
    plan = [  # name, URL, whether to send the session cookie, connections, wrk threads
        ("message page, 1 connection", page_url, True, 1, 1),
        ("message page, 4 connections", page_url, True, 4, 2),
        ("PDF attachment, 1 connection", pdf_url, True, 1, 1),
        ("PDF attachment, 4 connections", pdf_url, True, 4, 2),
        ("stylesheet, no cookie, 4 connections", css_url, False, 4, 2),
        ("stylesheet with session cookie, 4 connections", css_url, True, 4, 2),
    ]
    results["wrk"] = [run_wrk(name, url, session if cookie else "", connections=connections, threads=threads,
                              duration=args.duration, web_pid=web_pid, waiter=waiter)
                      for name, url, cookie, connections, threads in plan]
    status, page, _ = probe(base, page_path, session)
    if status != 200 or BODY_LAST.encode() not in page:
        raise AssertionError(f"after the load the page returned {status}, so the session may have ended")
    results["problems"] = [run["name"] for run in results["wrk"]
                           if run["non_2xx_3xx"] or run["socket_errors"] or not run["size_matches_probe"]]

    print("timing the view and its steps in-process ...", flush=True)
    escrow_id = page_path.rsplit("/", 1)[1]
    attachment_index = int(pdf_link.rsplit("/", 1)[1])
    results["in_process"] = run_profile(gateway, escrow_id, session, attachment_index, args.rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run (default 20)")
    parser.add_argument("--rounds", type=int, default=100, help="requests per in-process timing (default 100)")
    parser.add_argument("--time-limit", type=int, default=600,
                        help="seconds after which everything is stopped and the run fails (default 600)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--source", choices=("head", "worktree"), default="head",
                        help="measure src/ of the current commit (default) or the files as they are now")
    parser.add_argument("--quiet-wait", type=float, default=120.0,
                        help="seconds in total to wait for other load on the machine to drop below 0.25 cores "
                             "before the runs (default 120)")
    parser.add_argument("--profile-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile_child:
        config, escrow_id, session, index, rounds = args.profile_child
        profile_child(config, escrow_id, session, int(index), int(rounds))
        return 0
    if shutil.which("wrk") is None:
        print("wrk not found: install it with apt-get install -y wrk", file=sys.stderr)
        return 2

    import trustme
    from tests.support.sinks import TLSSink

    def on_signal(signum: int, _frame: object) -> None:
        if signum == signal.SIGALRM:
            raise TimeLimitReached(f"time limit of {args.time_limit}s reached")
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(args.time_limit)

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="careseal-portal-bench-"))
    sink = TLSSink(trustme.CA(), mode="none", hostname="127.0.0.1")
    gateway = None
    results: dict[str, Any] = {"benchmark": "portal-message-page", "machine": machine(),
                               "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        sink.__enter__()
        gateway = prepare_gateway(workdir, sink.port, args.source, results)
        measure(gateway, sink, workdir, args, results)
    except BaseException:
        if gateway is not None:
            print("gateway log (last 2000 characters):\n" + gateway.log()[-2000:], file=sys.stderr)
        raise
    finally:
        signal.alarm(0)
        if gateway is not None:
            try:
                gateway.stop(timeout=30)
            except Exception as error:  # noqa: BLE001 (close() below kills the process group in any case)
                print(f"gateway did not stop cleanly: {error}", file=sys.stderr)
            gateway.close()
        sink.__exit__(None, None, None)
        shutil.rmtree(workdir, ignore_errors=True)  # contains the instance and the gateway's log

    results["elapsed_seconds"] = round(time.monotonic() - started, 1)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 1 if results["problems"] else 0


# Output


def report(results: dict[str, Any]) -> None:
    facts = results["machine"]
    source = results["source"]
    print()
    print(f"machine: {facts['nproc']} CPUs ({facts['cpu_model']}), {facts['memory_gib']} GiB, "
          f"Linux {facts['kernel']}, Python {facts['python']}")
    print(f"source measured: {source['measured']} (commit {source['commit'][:12]}, and "
          f"{source['changed_files_under_src']} files under src/ differed from it at the start)")

    print()
    print("| run | req/s | p50 ms | p99 ms | max ms | bytes/request | web CPU ms/request | web CPU cores "
          "| other load, cores | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in results["wrk"]:
        errors = run["non_2xx_3xx"] + run["socket_errors"] + (0 if run["size_matches_probe"] else 1)
        print(f"| {run['name']} | {run['requests_per_second']:.1f} | {run['p50_ms']:.1f} | {run['p99_ms']:.1f} | "
              f"{run['max_ms']:.1f} | {run['bytes_per_request']} | {run['web_cpu_ms_per_request']:.1f} | "
              f"{run['web_cpu_share_of_one_core']:.2f} | {run['other_cores_during_run']:.2f} | {errors} |")

    timing = results["in_process"]
    print()
    print(f"in-process, {timing['rounds']} requests each:")
    print("| step | median ms | p90 ms |")
    print("|---|---:|---:|")
    print(f"| whole message view (test client) | {timing['page_view']['median_ms']} | "
          f"{timing['page_view']['p90_ms']} |")
    for name, step in timing["parts"].items():
        print(f"| {name} | {step['median_ms']} | {step['p90_ms']} |")
    print(f"| whole attachment view (test client) | {timing['attachment_view']['median_ms']} | "
          f"{timing['attachment_view']['p90_ms']} |")

    print()
    print(f"cProfile: {timing['profile_total_ms_per_request']} ms per page request under the profiler. "
          "Cumulative time per request:")
    for name, value in sorted(timing["profile_cumulative_ms_per_request"].items(), key=lambda kv: -kv[1]):
        print(f"  {name}: {value} ms")
    print(timing["profile_top_tottime"])
    if results["problems"]:
        print(f"PROBLEMS in these runs: {results['problems']}")
    print(f"elapsed {results['elapsed_seconds']} s")


if __name__ == "__main__":
    sys.exit(main())
