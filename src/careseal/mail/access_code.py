"""The optional access code a sender sets for an escrowed message.

The sender adds ``CareSeal-Access-Code: <code>`` to the message and gives
the patient the code by phone. The gateway removes the field before the
message is stored, so the code is kept only as a keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from careseal.mail.fields import header_fields
from careseal.mail.headers import remove_fields, split_message

FIELD = "CareSeal-Access-Code"
_CODE = re.compile(r"[A-Za-z0-9-]{4,32}")


class AccessCodeError(ValueError):
    """A malformed access code field."""


def take_access_code(raw: bytes) -> tuple[bytes, str]:
    """Return *raw* without the access code field, and the code ("" when there is none)."""
    header_block, _ = split_message(raw)
    values = [value for name, value in header_fields(header_block) if name == FIELD.lower()]
    if not values:
        return raw, ""
    if len(values) > 1 or not _CODE.fullmatch(values[0].strip()):
        raise AccessCodeError(f"{FIELD} must appear once and hold 4 to 32 letters, digits or hyphens")
    return remove_fields(raw, FIELD), values[0].strip()


def access_code_hash(code: str, key: bytes) -> str:
    """Return the keyed hash stored for *code*; comparison ignores case and hyphens."""
    normalized = code.replace("-", "").upper()
    return hmac.new(key, normalized.encode("ascii"), hashlib.sha256).hexdigest()
