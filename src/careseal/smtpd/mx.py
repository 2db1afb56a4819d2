"""The inbound MX: receives patients' plain-mail replies on the gateway's reply addresses.

A public MX must not require STARTTLS (RFC 3207 section 4) but offers it
with the gateway's certificate. It accepts mail only for its own domains
and only for reply addresses it handed out (550 otherwise), so it is never
an open relay. REQUIRETLS (RFC 8689) is accepted as a MAIL parameter on a
TLS session and recorded.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from django.db import close_old_connections

from careseal.config import Config
from careseal.mail.headers import normalize_line_endings
from careseal.queue.vault import loggable
from careseal.replies import service
from careseal.smtpd.submission import server_context

log = logging.getLogger("careseal.mx")


class MXSMTP(SMTP):
    """aiosmtpd's SMTP that takes REQUIRETLS off the MAIL parameters before aiosmtpd checks them."""

    line_length_limit = 64 * 1024

    async def smtp_MAIL(self, arg: str) -> None:  # noqa: N802 (aiosmtpd naming)
        requiretls = False
        if arg:
            words = arg.split()
            kept = [word for word in words if word.upper() != "REQUIRETLS"]
            requiretls = len(kept) != len(words)
            arg = " ".join(kept)
        if requiretls and not self._tls_protocol:
            await self.push("530 5.7.10 REQUIRETLS needs a TLS session")
            return
        if self.session is not None:
            self.session.requiretls = requiretls  # type: ignore[attr-defined]
        await super().smtp_MAIL(arg)


class MXHandler:
    def __init__(self, config: Config, executor: Executor) -> None:
        self.config = config
        self.executor = executor

    async def _db(self, function: Any, *args: Any) -> Any:
        def call() -> Any:
            close_old_connections()
            return function(*args)

        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", "250-REQUIRETLS", responses[-1]]

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        if envelope.rcpt_tos:
            return "452 4.5.3 One reply address per message"
        found = await self._db(service.find_address, address)
        if found is None:
            log.info("unknown reply address rejected recipient=%s", loggable(address))
            return "550 5.1.1 No such reply address here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = normalize_line_endings(bytes(envelope.original_content or b""))
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        cipher = ssl_object.cipher() if ssl_object else None
        arrival = service.Arrival(
            mail_from=envelope.mail_from or "", tls_version=ssl_object.version() if ssl_object else "",
            tls_cipher=cipher[0] if cipher else "", requiretls=bool(getattr(session, "requiretls", False)))
        try:
            address = await self._db(service.find_address, envelope.rcpt_tos[0])
            record = await self._db(service.receive, raw, address, arrival)
        except Exception as error:
            log.error("reply not stored error=%s", type(error).__name__)
            return "451 4.3.0 Reply not stored because of a local error; try again later"
        return f"250 2.0.0 Ok: reply {record.pk} received"


async def start(config: Config, executor: Executor) -> asyncio.Server:
    """Listen on ``[mx] listen`` and return the running server."""
    handler = MXHandler(config, executor)
    context = server_context(config)

    def factory() -> MXSMTP:
        return MXSMTP(handler, hostname=config.hostname, ident="CareSeal MX", tls_context=context,
                      require_starttls=False, data_size_limit=config.submission.max_message_size,
                      enable_SMTPUTF8=True, decode_data=False, timeout=300)

    listen = config.mx.listen
    server = await asyncio.get_running_loop().create_server(factory, host=listen.host, port=listen.port)
    log.info("mx listening on %s", listen)
    return server
