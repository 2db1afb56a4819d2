"""A small asyncio SMTP client that timestamps each step of a mail transaction.

aiosmtplib's ``data()`` covers the DATA command, its 354 reply, the content
and the final reply in one call. The benchmarks need the end-of-data dot
and the final reply apart, so this client speaks the few commands it needs
itself over asyncio streams: EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA
and QUIT, one command at a time (no pipelining).

Timestamps come from ``time.monotonic()``, which on Linux is
CLOCK_MONOTONIC and so comparable with the sink process's timestamps.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from dataclasses import dataclass


class SMTPReplyError(Exception):
    """The server sent a reply other than the one the step expects."""

    def __init__(self, step: str, code: int, text: str) -> None:
        super().__init__(f"{step}: expected success, got {code} {text}")
        self.step = step
        self.code = code
        self.text = text


@dataclass(frozen=True)
class TransactionTiming:
    """Monotonic timestamps (seconds) of one MAIL-RCPT-DATA transaction.

    ``dot`` is taken after the content and the ``.`` line were written and
    ``drain()`` returned. For a message larger than the transport's write
    buffer (64 KiB by default) up to that much may still be in flight then,
    so ``reply - dot`` includes sending the tail of the message.
    """

    mail: float
    data: float
    dot: float
    reply: float
    queue_id: str


class SMTPClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout

    @classmethod
    async def connect(cls, host: str, port: int, *, helo: str, tls_context: ssl.SSLContext | None = None,
                      login: tuple[str, str] | None = None, timeout: float = 60.0) -> SMTPClient:
        """Open a session: greeting, EHLO, STARTTLS when *tls_context* is given, then AUTH PLAIN if *login*."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        client = cls(reader, writer, timeout)
        try:
            await client._expect("greeting", 220)
            extensions = await client.ehlo(helo)
            if tls_context is not None:
                if "STARTTLS" not in extensions:
                    raise SMTPReplyError("EHLO", 250, "server does not offer STARTTLS")
                await client.command("STARTTLS", 220)
                await asyncio.wait_for(writer.start_tls(tls_context), timeout)
                await client.ehlo(helo)
            if login is not None:
                user, password = login
                token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
                await client.command(f"AUTH PLAIN {token}", 235, step="AUTH")
        except BaseException:
            writer.close()
            raise
        return client

    async def ehlo(self, helo: str) -> set[str]:
        """Send EHLO and return the extension keywords, upper-cased."""
        lines = await self.command(f"EHLO {helo}", 250)
        return {line.split(" ", 1)[0].upper() for line in lines[1:]}

    async def command(self, line: str, expected: int, *, step: str | None = None) -> list[str]:
        self.writer.write(line.encode("ascii") + b"\r\n")
        return await self._expect(step or line.split(" ", 1)[0], expected)

    async def send(self, sender: str, recipient: str, header: bytes, body: bytes) -> TransactionTiming:
        """Run one transaction; *header* and *body* are CRLF-terminated and need no dot-stuffing."""
        mail = time.monotonic()
        await self.command(f"MAIL FROM:<{sender}> SIZE={len(header) + len(body)}", 250, step="MAIL")
        await self.command(f"RCPT TO:<{recipient}>", 250, step="RCPT")
        data = time.monotonic()
        await self.command("DATA", 354)
        self.writer.write(header)
        self.writer.write(body)
        self.writer.write(b".\r\n")
        await asyncio.wait_for(self.writer.drain(), self.timeout)
        dot = time.monotonic()
        lines = await self._expect("end of data", 250)
        reply = time.monotonic()
        return TransactionTiming(mail=mail, data=data, dot=dot, reply=reply, queue_id=_queue_id(lines[-1]))

    async def quit(self) -> None:
        """Send QUIT and close, ignoring a server that already went away."""
        try:
            await self.command("QUIT", 221)
        except (OSError, SMTPReplyError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            self.writer.close()

    async def _expect(self, step: str, expected: int) -> list[str]:
        code, lines = await asyncio.wait_for(self._read_reply(), self.timeout)
        if code != expected:
            raise SMTPReplyError(step, code, " / ".join(lines))
        return lines

    async def _read_reply(self) -> tuple[int, list[str]]:
        lines: list[str] = []
        while True:
            raw = await self.reader.readline()
            if not raw:
                raise ConnectionError("server closed the connection")
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text[4:])
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), lines


def _queue_id(text: str) -> str:
    """Return the last word of a 250 reply, which is the queue id for CareSeal and Postfix."""
    words = text.split()
    return words[-1] if words else ""
