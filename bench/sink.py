"""A TLS SMTP sink in its own process that reports when each message arrives.

It is tests.support.sinks.TLSSink (aiosmtpd, STARTTLS with a certificate
from the benchmark's trustme CA for mx.patient.test and 127.0.0.1) with a
handler that keeps no content. Running it apart from the benchmark client
keeps the two off one Python interpreter lock.

Protocol on standard output, one line each::

    READY <port>
    ARRIVED <monotonic seconds> <bytes> <tls version> <X-Bench-Id or ->

Run from the repository root: ``python -m bench.sink --ca-cert C --ca-key K``.
SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
from pathlib import Path

import trustme
from aiosmtpd.smtp import SMTP, Envelope, Session
from tests.support.sinks import TLSSink

BENCH_ID = re.compile(rb"\r\nX-Bench-Id: ([A-Za-z0-9._-]+)\r\n")
HEADER_SCAN = 16 * 1024


class ArrivalReporter:
    """aiosmtpd handler that writes one ARRIVED line per message and discards the content."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        arrived = time.monotonic()
        content = bytes(envelope.original_content or b"")
        match = BENCH_ID.search(content, 0, HEADER_SCAN)
        bench_id = match.group(1).decode("ascii") if match else "-"
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        tls = ssl_object.version() if ssl_object is not None else "none"
        # aiosmtpd runs every session on the controller's one event loop thread,
        # so these writes never interleave.
        sys.stdout.write(f"ARRIVED {arrived:.6f} {len(content)} {tls} {bench_id}\n")
        sys.stdout.flush()
        return "250 2.0.0 Ok: received"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ca-cert", type=Path, required=True, help="PEM certificate of the trustme CA")
    parser.add_argument("--ca-key", type=Path, required=True, help="PEM private key of the trustme CA")
    parser.add_argument("--hostname", default="mx.patient.test", help="name in the sink's certificate")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args()

    ca = trustme.CA.from_pem(args.ca_cert.read_bytes(), args.ca_key.read_bytes())
    sink = TLSSink(ca, mode="valid", hostname=args.hostname, port=args.port or None)
    # Controller builds each session's SMTP object from controller.handler when the
    # session starts, so swapping it before start keeps TLSSink's TLS set-up.
    sink.controller.handler = ArrivalReporter()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with sink:
        sys.stdout.write(f"READY {sink.port}\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
