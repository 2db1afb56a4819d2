"""Export the audit trail with a signed checkpoint, and verify such an export offline."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from careseal.audit import chain, trail


def signing_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key((settings.CARESEAL.keys_dir / "audit.key").read_bytes(), None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("keys/audit.key is not an Ed25519 key")
    return key


def public_key_bytes() -> bytes:
    return signing_key().public_key().public_bytes_raw()


def export(directory: Path) -> dict[str, object]:
    """Write events.jsonl, checkpoint.json and public_key.txt to *directory*; return the checkpoint."""
    directory.mkdir(parents=True, exist_ok=True)
    head = chain.GENESIS
    seq = 0
    with (directory / "events.jsonl").open("w", encoding="utf-8") as out:
        for event in trail.events():
            out.write(json.dumps(dataclasses.asdict(event), sort_keys=True) + "\n")
            head, seq = event.hash, event.seq
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    checkpoint = chain.sign_checkpoint(signing_key(), seq, head, now)
    (directory / "checkpoint.json").write_text(json.dumps(checkpoint, indent=2) + "\n", encoding="utf-8")
    (directory / "public_key.txt").write_text(base64.b64encode(public_key_bytes()).decode("ascii") + "\n",
                                              encoding="ascii")
    return checkpoint
