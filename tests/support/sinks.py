"""Receiving SMTP servers on loopback that stand in for recipients' MX hosts.

Every sink records what reached it. ``TLSSink`` is aiosmtpd with a TLS mode:
a certificate from the test CA, a self-signed one, one for another name,
TLS 1.0 only, or no STARTTLS at all. ``StrippingSink`` replies 454 to
STARTTLS the way a downgrade attacker in the path does.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from careseal.instance import self_signed_certificate


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Return *count* distinct free ports, holding all sockets open while choosing so none repeats."""
    sockets = [socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    content: bytes
    tls_version: str | None


@dataclass
class _Recorder:
    messages: list[Received] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    reply: str = "250 2.0.0 Ok: stored"
    delay: float = 0.0  # seconds to wait before the final reply to DATA
    data_started: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.data_started.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        self.messages.append(Received(
            sender=envelope.mail_from, recipients=list(envelope.rcpt_tos),
            content=bytes(envelope.original_content or b""),
            tls_version=ssl_object.version() if ssl_object else None))
        return self.reply


class TLSSink:
    """An aiosmtpd server on loopback with STARTTLS in one of several modes."""

    MODES = ("valid", "self-signed", "wrong-name", "tls1.0", "none")

    def __init__(self, ca: trustme.CA, *, mode: str = "valid", hostname: str = "mx.patient.test",
                 host: str = "127.0.0.1", port: int | None = None, tmp: Path | None = None) -> None:
        assert mode in self.MODES
        self.mode = mode
        self.hostname = hostname
        self.host = host
        self.port = port or free_port(host)
        self.recorder = _Recorder()
        context = self._context(ca, tmp)
        self.controller = Controller(
            self.recorder, hostname=host, port=self.port, server_hostname=hostname,
            tls_context=context, require_starttls=False, decode_data=False, enable_SMTPUTF8=True,
            data_size_limit=0,
        )

    @property
    def messages(self) -> list[Received]:
        return self.recorder.messages

    def _context(self, ca: trustme.CA, tmp: Path | None) -> ssl.SSLContext | None:
        if self.mode == "none":
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.mode == "valid":
            ca.issue_cert(self.hostname, self.host).configure_cert(context)
        elif self.mode == "wrong-name":
            ca.issue_cert("other.example.test").configure_cert(context)
        elif self.mode == "self-signed":
            assert tmp is not None
            certificate, key = self_signed_certificate(self.hostname)
            (tmp / "self.crt").write_bytes(certificate)
            (tmp / "self.key").write_bytes(key)
            context.load_cert_chain(tmp / "self.crt", tmp / "self.key")
        elif self.mode == "tls1.0":
            ca.issue_cert(self.hostname, self.host).configure_cert(context)
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 is the point of this mode
                context.minimum_version = ssl.TLSVersion.TLSv1
                context.maximum_version = ssl.TLSVersion.TLSv1
        return context

    def __enter__(self) -> TLSSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


class StrippingSink:
    """A line-based server that offers STARTTLS and replies 454 to it, recording every command."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self.commands: list[str] = []
        self.data: list[bytes] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.stripped.example.test ESMTP\r\n")
        while line := await reader.readline():
            command = line.decode("ascii", "replace").strip()
            self.commands.append(command)
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                writer.write(b"250-mx.stripped.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
            elif verb == "STARTTLS":
                writer.write(b"454 4.7.0 TLS not available due to temporary reason\r\n")
            elif verb == "DATA":
                writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                await writer.drain()
                while (data_line := await reader.readline()) not in (b".\r\n", b""):
                    self.data.append(data_line)
                writer.write(b"250 2.0.0 Ok: stored in the clear\r\n")
            elif verb == "QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 2.0.0 Ok\r\n")
            await writer.drain()
        writer.close()

    def __enter__(self) -> StrippingSink:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, self.host, self.port), self._loop)
        self._server = future.result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
