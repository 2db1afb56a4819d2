"""Write transactions that queue up inside the process before they reach SQLite.

SQLite admits one writer. Threads of one process that start write
transactions together otherwise spin in SQLite's busy handler, sleeping
and retrying, which stretched the slowest DATA replies to hundreds of
milliseconds under 20 connections. A process-wide lock makes them wait
their turn instead. PostgreSQL needs no such lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

_LOCK = threading.RLock()  # re-entrant: an accept may run inside another write transaction


@contextmanager
def write_transaction() -> Iterator[None]:
    if connection.vendor != "sqlite":
        with transaction.atomic():
            yield
        return
    with _LOCK, transaction.atomic():
        yield
