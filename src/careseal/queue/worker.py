"""The delivery worker: claim due deliveries, deliver them concurrently, record the results.

Database work runs in a thread pool so the event loop only waits on the
network. On shutdown the worker stops claiming and lets attempts in
flight finish for a grace period. What is still running then is cancelled:
an attempt not yet started gives back its lease, a started one is marked
interrupted, so every claimed delivery returns to the queue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import ssl
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections

from careseal.mail.addresses import domain_of
from careseal.policy.decision import ESCROW, OPPORTUNISTIC, PLAIN_CONSENTED, TLS_OR_ESCROW, VERIFIED_TLS
from careseal.queue import leases, mtasts, outcomes, store
from careseal.queue.models import Delivery
from careseal.replies.service import tracked_content
from careseal.transport import nexthop, smtp
from careseal.transport.tls import verified_context
from careseal.vault.blobstore import BlobUnusable, StorageError
from careseal.vault.envelope import DecryptionError

log = logging.getLogger("careseal.delivery")

# Seconds between escrow expiry and reminder passes.
HOUSEKEEPING_INTERVAL = 60.0

T = TypeVar("T")


class Worker:
    """One worker process's delivery loop."""

    def __init__(self, *, poll_interval: float = 0.5, grace: float = 30.0) -> None:
        config = settings.CARESEAL
        self.config = config
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.poll_interval = poll_interval
        self.grace = grace
        self.context: ssl.SSLContext = verified_context(config.delivery.ca_file)
        self.resolver = nexthop.make_resolver(
            [(e.host, e.port) for e in config.dns.nameservers], config.dns.timeout)
        self.routes = {domain: nexthop.Route(e.host, e.port) for domain, e in config.delivery.routes.items()}
        self.lease = dt.timedelta(seconds=config.delivery.lease)
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="careseal-db")
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.slot_free = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until *stop* is set, then shut down as the module describes."""
        log.info("worker started name=%s concurrency=%d", self.name, self.config.delivery.concurrency)
        next_housekeeping = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_housekeeping:
                    next_housekeeping = time.monotonic() + HOUSEKEEPING_INTERVAL
                    await self._housekeeping()
                free = self.config.delivery.concurrency - len(self.in_flight)
                claimed: list[Delivery] = []
                if free > 0:
                    try:
                        claimed = await self._db(leases.claim, self.name, free, self.lease)
                    except Exception as error:
                        log.error("claim failed worker=%s error=%s at=%s", self.name, type(error).__name__,
                                  _location(error))
                for delivery in claimed:
                    task = asyncio.create_task(self._deliver(delivery))
                    self.in_flight[delivery.pk] = task
                    task.add_done_callback(lambda _t, pk=delivery.pk: self._finished(pk))
                if not claimed:
                    await _wait(stop, self.poll_interval)
                elif free <= len(claimed):
                    # Every slot is busy: claim again as soon as one frees up, not after a fixed sleep.
                    self.slot_free.clear()
                    await _wait_any(stop, self.slot_free, self.poll_interval)
        finally:
            await self._shutdown()
        log.info("worker stopped name=%s", self.name)

    def _finished(self, pk: int) -> None:
        self.in_flight.pop(pk, None)
        self.slot_free.set()

    async def _housekeeping(self) -> None:
        from careseal.escrow import lifecycle

        try:
            await self._db(lifecycle.housekeeping)
        except Exception as error:
            log.error("housekeeping failed error=%s at=%s", type(error).__name__, _location(error))

    async def _shutdown(self) -> None:
        if self.in_flight:
            log.info("waiting for attempts in flight count=%d grace=%.0fs", len(self.in_flight), self.grace)
            _, pending = await asyncio.wait(list(self.in_flight.values()), timeout=self.grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        self.executor.shutdown(wait=True)

    async def _deliver(self, delivery: Delivery) -> None:
        message = delivery.message
        try:
            attempt = await self._db(leases.start_attempt, delivery, self.name)
        except asyncio.CancelledError:
            await asyncio.shield(self._db(leases.release, self.name, [delivery.pk]))
            raise
        if attempt is None:
            log.warning("lease lost before start queue_id=%s delivery=%s", message.id, delivery.pk)
            return
        content: bytes | None = None
        try:
            try:
                content = await self._db(store.content, message)
                sent = content
                if delivery.policy in (VERIFIED_TLS, TLS_OR_ESCROW, PLAIN_CONSENTED):
                    sent = await self._db(tracked_content, delivery, content)
                result = await self._attempt(delivery, sent)
            except asyncio.CancelledError:
                await asyncio.shield(self._db(leases.interrupt, attempt, self.name))
                log.warning("attempt interrupted queue_id=%s delivery=%s attempt=%d",
                            message.id, delivery.pk, attempt.number)
                raise
            await self._db(outcomes.record, delivery, attempt, result, self.name, content)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if isinstance(error, (StorageError, DecryptionError)):
                # These errors name only blobs, keys and the store, so the whole message is logged.
                log.error("attempt deferred, content unreadable queue_id=%s delivery=%s attempt=%d: %s",
                          message.id, delivery.pk, attempt.number, error)
                reason = ("stored content missing or damaged; see the gateway log"
                          if isinstance(error, (BlobUnusable, DecryptionError))
                          else "content storage unavailable; see the gateway log")
            else:
                # Exception messages can quote addresses, so only the type and location are logged.
                log.error("attempt failed with an internal error queue_id=%s delivery=%s attempt=%d error=%s at=%s",
                          message.id, delivery.pk, attempt.number, type(error).__name__, _location(error))
                reason = "internal error; see the gateway log"
            internal = smtp.DeliveryResult(smtp.Outcome.DEFERRED, reason, "4.3.0")
            try:
                await self._db(outcomes.record, delivery, attempt, internal, self.name, content)
            except Exception as record_error:
                log.error("cannot record internal error delivery=%s error=%s at=%s", delivery.pk,
                          type(record_error).__name__, _location(record_error))

    async def _attempt(self, delivery: Delivery, content: bytes) -> smtp.DeliveryResult:
        if delivery.policy == ESCROW:
            return smtp.DeliveryResult(smtp.Outcome.DEFERRED, "policy escrow: no delivery attempted",
                                       outcomes.NO_SECURE_TRANSPORT)
        domain = domain_of(delivery.recipient)
        try:
            hops = await nexthop.resolve(domain, routes=self.routes, port=self.config.delivery.port,
                                         resolver=self.resolver)
        except nexthop.ResolutionError as error:
            if error.permanent:
                return smtp.DeliveryResult(smtp.Outcome.FAILED, error.reason, "5.1.2")
            return smtp.DeliveryResult(smtp.Outcome.DEFERRED, error.reason, "4.4.3")
        applied = mtasts.Applied(hops)
        if self.config.delivery.mta_sts and hops[0].source != "route":
            applied = await mtasts.apply(domain, hops, resolver=self.resolver, context=self.context,
                                         timeout=float(self.config.delivery.timeout), db=self._db)
            if not applied.hops:
                return smtp.DeliveryResult(
                    smtp.Outcome.DEFERRED, f"MTA-STS policy of {domain} lists none of its MX hosts "
                    f"({', '.join(applied.rejected)})", outcomes.NO_SECURE_TRANSPORT, mta_sts=applied.evidence)
        envelope = smtp.Envelope(sender=delivery.message.envelope_sender, recipient=delivery.recipient,
                                 content=content, smtputf8=delivery.message.smtputf8,
                                 body_8bit=delivery.message.body_8bit)
        # An enforce policy requires verified TLS, so mail without PHI gets no lower level there either.
        opportunistic = not applied.enforce and (
            delivery.policy == OPPORTUNISTIC
            or (delivery.policy == PLAIN_CONSENTED and await self._db(_consented, delivery)))
        result = await smtp.deliver(envelope, applied.hops, context=self.context,
                                    local_hostname=self.config.hostname,
                                    timeout=float(self.config.delivery.timeout), opportunistic=opportunistic)
        result.mta_sts = applied.evidence
        return result

    async def _db(self, function: Callable[..., T], *args: Any) -> T:
        def call() -> T:
            close_old_connections()
            return function(*args)

        return await asyncio.get_running_loop().run_in_executor(self.executor, call)


def _consented(delivery: Delivery) -> bool:
    """Return True if the recipient's consent to plain email is still valid now, at delivery time."""
    close_old_connections()
    from careseal.consent.service import valid_consent

    return valid_consent(delivery.recipient) is not None


def _location(error: BaseException) -> str:
    """Return "file:line" of the innermost frame of *error*'s traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "-"
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"


async def _wait_any(first: asyncio.Event, second: asyncio.Event, timeout: float) -> None:
    """Return when either event is set or *timeout* seconds pass."""
    waiters = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _wait(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        pass
