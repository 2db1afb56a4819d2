"""An HTTPS server on port 443 of a loopback address of its own, serving an MTA-STS policy.

RFC 8461 fixes the policy's port at 443, so each server binds 443 on an
address in 127.0.0.0/8 picked at random, and the test's DNS zone points
``mta-sts.DOMAIN`` at it. Binding port 443 needs root (or a lowered
``net.ipv4.ip_unprivileged_port_start``); :func:`bind_443` returns None
when it cannot.
"""

from __future__ import annotations

import http.server
import random
import socket
import ssl
import threading
from dataclasses import dataclass, field
from types import TracebackType

import trustme


@dataclass
class Reply:
    """The response the server sends to every request."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True  # False: no Content-Length, the body ends when the connection closes


def bind_443() -> tuple[socket.socket, str] | None:
    """Return a socket bound to port 443 on a random loopback address, or None without the privilege."""
    for _ in range(20):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"  # noqa: S311
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, 443))
        except PermissionError:
            sock.close()
            return None
        except OSError:
            sock.close()
            continue
        return sock, address
    raise RuntimeError("found no loopback address with port 443 free")


class PolicyServer:
    """Serve :attr:`reply` over HTTPS with a certificate from *ca* for *hostname*; record request paths."""

    def __init__(self, ca: trustme.CA, hostname: str, reply: Reply) -> None:
        bound = bind_443()
        if bound is None:
            raise PermissionError("binding port 443 needs root")
        self.sock, self.address = bound
        self.reply = reply
        self.paths: list[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(hostname).configure_cert(context)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
                server.paths.append(self.path)
                reply = server.reply
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                if reply.content_length:
                    self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
                pass

        self.httpd = http.server.ThreadingHTTPServer(self.sock.getsockname(), Handler, bind_and_activate=False)
        self.httpd.socket.close()
        self.httpd.socket = context.wrap_socket(self.sock, server_side=True)
        self.httpd.server_activate()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PolicyServer:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def silent_listener() -> socket.socket:
    """Return a socket listening on port 443 of a random loopback address that never completes a TLS handshake."""
    bound = bind_443()
    if bound is None:
        raise PermissionError("binding port 443 needs root")
    bound[0].listen(8)
    return bound[0]


def policy(mode: str, *mx: str, max_age: int = 86400) -> bytes:
    """Return a policy body in RFC 8461 form."""
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {pattern}" for pattern in mx), f"max_age: {max_age}"]
    return ("\r\n".join(lines) + "\r\n").encode()
