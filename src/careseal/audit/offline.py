"""Verify an exported audit trail with nothing but the public key: no database, no Django."""

from __future__ import annotations

import json
from pathlib import Path

from careseal.audit import chain


def verify_export(directory: Path, public_key: bytes) -> str | None:
    """Check an export against *public_key*; return None if it holds, else what is wrong."""
    checkpoint = json.loads((directory / "checkpoint.json").read_text(encoding="utf-8"))
    if not chain.checkpoint_valid(checkpoint, public_key):
        return "the checkpoint signature does not verify with the given public key"
    events = [chain.Event(**json.loads(line)) for line in
              (directory / "events.jsonl").read_text(encoding="utf-8").splitlines() if line]
    problem = chain.first_bad(events)
    if problem:
        return f"event {problem[0]}: {problem[1]}"
    last_seq, last_hash = (events[-1].seq, events[-1].hash) if events else (0, chain.GENESIS)
    if (last_seq, last_hash) != (checkpoint["seq"], checkpoint["hash"]):
        return f"the events end at {last_seq}, but the checkpoint vouches for {checkpoint['seq']}"
    return None
