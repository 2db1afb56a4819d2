"""``careseal run``: the supervisor and the processes it starts, one per role.

``--role all`` starts one child process for each of submission, worker and
web in the supervisor's process group, logs each start and exit, and on
SIGTERM or SIGINT passes the signal on and waits for the children. If a
child exits on its own, the supervisor stops the others and exits non-zero,
so a service manager restarts the whole gateway in a known state.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger("careseal.run")

ROLES = ("submission", "mx", "worker", "web")
STOP_TIMEOUT = 60.0


def supervise(config_path: Path) -> int:
    """Run every role as a child process until a signal or a child's exit; return the exit code."""
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            log.info("received %s; stopping all roles", signal.Signals(signum).name)
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    for role in ROLES:
        command = [sys.executable, "-m", "careseal.cli", "--config", str(config_path), "run", "--role", role]
        children[role] = subprocess.Popen(command)  # noqa: S603 (our own interpreter and module)
        log.info("started role=%s pid=%d", role, children[role].pid)

    exit_code = 0
    while not stopping:
        for role, child in children.items():
            code = child.poll()
            if code is not None:
                log.error("role exited unexpectedly role=%s pid=%d code=%d; stopping all roles",
                          role, child.pid, code)
                exit_code = 1
                stopping = True
                break
        time.sleep(0.2)

    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for role, child in children.items():
        try:
            code = child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("role did not stop in time role=%s pid=%d; killing it", role, child.pid)
            child.kill()
            code = child.wait()
        log.info("stopped role=%s pid=%d code=%d", role, child.pid, code)
    return exit_code


def run_role(role: str) -> int:
    """Run one role in this process until SIGTERM or SIGINT."""
    _die_with_parent()
    if role == "web":
        return _run_web()
    return asyncio.run(_run_async_role(role))


async def _run_async_role(role: str) -> int:
    from django.conf import settings

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    config = settings.CARESEAL
    from careseal.queue.vault import key_ring
    from careseal.vault.keyring import KeyRingError

    try:
        key_ring()
    except KeyRingError as error:
        log.error("key ring check failed (keys.dir): %s", error)
        return 1

    from careseal.queue.vault import check_storage_at_start

    if not await asyncio.to_thread(check_storage_at_start, role):
        return 1

    if role == "submission":
        from careseal.queue.vault import check_storage
        from careseal.smtpd import submission
        from careseal.vault.blobstore import StorageError, StorageFull

        try:
            check_storage()
        except StorageFull as error:
            # Start anyway: clients get 452 and retry until space is freed.
            log.warning("storage below its reserve; new mail gets 452 until space is freed: %s", error)
        except StorageError as error:
            log.error("storage check failed (storage.url): %s", error)
            return 1

        for key, path in (("submission.tls_cert", config.submission.tls_cert),
                          ("submission.tls_key", config.submission.tls_key)):
            if not path.is_file():
                log.error("%s: file not found: %s", key, path)
                return 1
        executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="careseal-db")
        try:
            server = await submission.start(config, executor)
        except ssl.SSLError as error:
            log.error("submission.tls_cert or submission.tls_key cannot be loaded: %s", error.reason or error)
            return 1
        except OSError as error:
            log.error("cannot listen on %s (submission.listen): %s", config.submission.listen, error.strerror or error)
            return 1
        log.info("role started role=submission")
        await stop.wait()
        log.info("role stopping role=submission")
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), timeout=30)
        except TimeoutError:
            log.warning("submission sessions still open after 30s; closing them")
        executor.shutdown(wait=True)
        return 0

    if role == "mx":
        from careseal.smtpd import mx

        executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="careseal-db")
        try:
            server = await mx.start(config, executor)
        except OSError as error:
            log.error("cannot listen on %s (mx.listen): %s", config.mx.listen, error.strerror or error)
            return 1
        log.info("role started role=mx")
        await stop.wait()
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), timeout=30)
        except TimeoutError:
            log.warning("mx sessions still open after 30s; closing them")
        executor.shutdown(wait=True)
        return 0

    if role == "worker":
        from careseal.queue.worker import Worker

        worker = Worker()
        await worker.run(stop)
        return 0

    raise ValueError(f"unknown role {role!r}")


def _run_web() -> int:
    from django.conf import settings
    from waitress.server import create_server

    from careseal.queue.vault import check_storage_at_start
    from careseal.web.wsgi import application

    if not check_storage_at_start("web"):
        return 1
    listen = settings.CARESEAL.web.listen
    try:
        server = create_server(application, host=listen.host, port=listen.port, threads=8, ident="CareSeal")
    except OSError as error:
        log.error("cannot listen on %s (web.listen): %s", listen, error.strerror or error)
        return 1

    def on_signal(signum: int, _frame: object) -> None:
        log.info("role stopping role=web")
        server.close()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("web listening on %s", listen)
    try:
        server.run()
    except SystemExit:
        pass
    return 0


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when the supervisor dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("cannot set the parent-death signal; children may outlive a killed supervisor")
