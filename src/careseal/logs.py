"""Logging set-up for every CareSeal process: one line per event, text or JSON."""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from careseal.smtpd.logging import silence_aiosmtpd


class JSONFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "INFO", fmt: str = "text", role: str = "") -> None:
    """Send every log record to stderr in *fmt* ("text" or "json") at *level* or above."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        label = f"[{role}:{os.getpid()}]" if role else f"[{os.getpid()}]"
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s %(levelname)s %(name)s {label} %(message)s", "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party libraries log peer data at INFO; keep them at warnings.
    for name in ("asyncio", "waitress", "aiosmtplib"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    silence_aiosmtpd()
