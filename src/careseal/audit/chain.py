"""Hash chaining of audit events, free of Django.

Each event's hash is SHA-256 over a canonical JSON encoding of its sequence
number, time, kind, actor, subject, data and the previous event's hash. A
change to any stored field of any event, or a removed or reordered event,
breaks the chain at that event. Checkpoints sign (sequence, hash) pairs
with Ed25519, so a copy exported to an auditor can be checked against the
public key alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64


@dataclass(frozen=True)
class Event:
    seq: int
    created_at: str  # ISO 8601 in UTC
    kind: str
    actor: str
    subject: dict[str, Any]
    data: dict[str, Any]
    prev_hash: str
    hash: str = ""


def compute_hash(event: Event) -> str:
    """Return the hash *event* must carry, given its fields and its predecessor's hash."""
    canonical = json.dumps(
        [event.seq, event.created_at, event.kind, event.actor, event.subject, event.data, event.prev_hash],
        sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def first_bad(events: Iterable[Event], start_prev: str = GENESIS, start_seq: int = 1) -> tuple[int, str] | None:
    """Return (sequence number, problem) of the first event that breaks the chain, or None if it holds."""
    previous, expected_seq = start_prev, start_seq
    for event in events:
        if event.seq != expected_seq:
            return expected_seq, f"event {expected_seq} is missing (found {event.seq} next)"
        if event.prev_hash != previous:
            return event.seq, "previous-hash link does not match the event before it"
        if compute_hash(event) != event.hash:
            return event.seq, "stored hash does not match the event's content"
        previous, expected_seq = event.hash, expected_seq + 1
    return None


def sign_checkpoint(key: Ed25519PrivateKey, seq: int, head_hash: str, created_at: str) -> dict[str, Any]:
    """Return a checkpoint that vouches for the chain up to *seq* ending in *head_hash*."""
    message = f"careseal-audit-checkpoint/v1/{seq}/{head_hash}/{created_at}".encode("ascii")
    public = key.public_key().public_bytes_raw()
    return {"version": 1, "seq": seq, "hash": head_hash, "created_at": created_at,
            "public_key": base64.b64encode(public).decode("ascii"),
            "signature": base64.b64encode(key.sign(message)).decode("ascii")}


def checkpoint_valid(checkpoint: dict[str, Any], public_key: bytes) -> bool:
    """Return True if *checkpoint* was signed by the Ed25519 key *public_key* (32 raw bytes)."""
    message = (f"careseal-audit-checkpoint/v1/{checkpoint['seq']}/{checkpoint['hash']}/"
               f"{checkpoint['created_at']}").encode("ascii")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(base64.b64decode(checkpoint["signature"]), message)
    except (InvalidSignature, ValueError, KeyError):
        return False
    return True
