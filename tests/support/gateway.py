"""Run a real CareSeal gateway as separate processes for end-to-end tests.

``Gateway`` runs ``careseal init`` into a temporary folder, edits the
configuration it wrote with tomlkit, starts ``careseal run`` in its own
process group and waits until the submission port and web health page
respond. With CARESEAL_DATABASE_URL set to PostgreSQL, each gateway gets a
database of its own, created here and dropped at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import tomlkit

from tests.support.sinks import free_ports

ADMIN = "admin@clinic.test"
ADMIN_PASSWORD = "correct horse battery staple"
CARESEAL = [sys.executable, "-m", "careseal.cli"]


class Gateway:
    def __init__(self, directory: Path, *, hostname: str = "gateway.test") -> None:
        self.directory = directory
        self.config_path = directory / "careseal.toml"
        self.hostname = hostname
        self.submission_port, self.web_port, self.mx_port = free_ports(3)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = directory.parent / f"{directory.name}.log"
        self.database_url, self._drop_database = _database_for_test()
        self.env = dict(os.environ)
        self.env.pop("CARESEAL_CONFIG", None)
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        if self.database_url:
            self.env["CARESEAL_DATABASE_URL"] = self.database_url
        else:
            self.env.pop("CARESEAL_DATABASE_URL", None)

    # Set-up

    def init(self) -> Gateway:
        self.cli("init", "--dir", str(self.directory), "--hostname", self.hostname,
                 "--admin-email", ADMIN, "--admin-password", ADMIN_PASSWORD,
                 "--submission-listen", f"127.0.0.1:{self.submission_port}",
                 "--web-listen", f"127.0.0.1:{self.web_port}", "--mx-listen", f"127.0.0.1:{self.mx_port}",
                 config=False)
        return self

    def configure(self, edit: Callable[[Any], None]) -> None:
        """Apply *edit* to the parsed configuration document and write it back."""
        document = tomlkit.parse(self.config_path.read_text())
        edit(document)
        self.config_path.write_text(tomlkit.dumps(document))

    def route(self, domain: str, host: str, port: int, ca_file: Path | None = None) -> None:
        def edit(document: Any) -> None:
            document["delivery"]["routes"][domain] = f"{host}:{port}"
            if ca_file is not None:
                document["delivery"]["ca_file"] = str(ca_file)
        self.configure(edit)

    # Processes

    def cli(self, *args: str, config: bool = True, check: bool = True,
            input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        prefix = ["--config", str(self.config_path)] if config else []
        result = subprocess.run([*CARESEAL, *prefix, *args], env=self.env, input=input,
                                capture_output=True, timeout=120, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"careseal {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stderr.decode(errors='replace')}")
        return result

    def start(self, timeout: float = 30.0) -> Gateway:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*CARESEAL, "--config", str(self.config_path), "run"], env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gateway exited with {self.process.returncode}:\n{self.log()}")
            if _port_open(self.submission_port) and self._healthy():
                return self
            time.sleep(0.1)
        raise AssertionError(f"gateway did not start in {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 70.0) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """Send SIGKILL to the whole process group, as a power cut or OOM kill would."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(10)

    def close(self) -> None:
        self.kill()
        self._drop_database()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # Observations

    def queue(self, include_finished: bool = True) -> list[dict[str, Any]]:
        args = ["queue", "list", "--json"] + (["--all"] if include_finished else [])
        return json.loads(self.cli(*args).stdout)

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0,
                 what: str = "queue state") -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = self.queue()
            if predicate(rows):
                return rows
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; queue is {json.dumps(rows, indent=1)[:4000]}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    # Clients

    def smtp(self, *, login: bool = True, user: str = ADMIN, password: str = ADMIN_PASSWORD) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.submission_port, timeout=30)
        client.starttls(context=self.client_context())
        client.ehlo()
        if login:
            client.login(user, password)
        return client

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.directory / "tls" / "submission.crt"))
        context.check_hostname = False  # the self-signed certificate names gateway.test, we dial 127.0.0.1
        return context


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _database_for_test() -> tuple[str, Callable[[], None]]:
    """Return a fresh PostgreSQL database URL and its dropper, or ("", no-op) on SQLite."""
    base = os.environ.get("CARESEAL_DATABASE_URL", "")
    if not base.startswith(("postgresql://", "postgres://")):
        return "", lambda: None
    import psycopg

    name = "careseal_e2e_" + secrets.token_hex(6)
    parts = urlsplit(base)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(parts._replace(path=f"/{name}")), drop
