"""Keep aiosmtpd's own logger from writing addresses, commands or credentials.

aiosmtpd 1.4 logs every command line and every MAIL and RCPT address at INFO
and DEBUG on the ``mail.log`` logger. CareSeal logs its own events with
hashed addresses, so that logger is limited to warnings, and what still
passes has its arguments dropped.
"""

from __future__ import annotations

import logging


class _DropArguments(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if "login_data" in str(record.msg):
            return False  # aiosmtpd's deprecation notice for Session.login_data, on every AUTH
        record.msg = f"aiosmtpd {record.levelname.lower()} (details withheld)"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        return True


def silence_aiosmtpd() -> None:
    """Limit ``mail.log`` to warnings and strip their details."""
    logger = logging.getLogger("mail.log")
    logger.setLevel(logging.WARNING)
    if not any(isinstance(f, _DropArguments) for f in logger.filters):
        logger.addFilter(_DropArguments())
