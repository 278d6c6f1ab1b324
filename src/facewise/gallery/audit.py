"""The append-only, hash-chained audit log: each event's hash covers the previous event's hash,
so editing, deleting or reordering any past event breaks every hash after it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from facewise.gallery.records import AuditEvent

GENESIS = "0" * 64


def event_hash(
    prev_hash: str,
    seq: int,
    at: str,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any],
) -> str:
    body = json.dumps(
        [prev_hash, seq, at, actor, action, subject, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def verify_chain(events: Iterable[AuditEvent]) -> tuple[bool, int | None, str]:
    """(ok, seq of the first bad event or None, explanation)."""
    prev, expected_seq = GENESIS, None
    count = 0
    for event in events:
        count += 1
        if expected_seq is not None and event.seq != expected_seq:
            return False, event.seq, f"event {event.seq} follows {expected_seq - 1}: events missing"
        if event.prev_hash != prev:
            return False, event.seq, f"event {event.seq} does not chain to the event before it"
        recomputed = event_hash(
            event.prev_hash,
            event.seq,
            event.at,
            event.actor,
            event.action,
            event.subject,
            event.details,
        )
        if recomputed != event.hash:
            return False, event.seq, f"event {event.seq} was altered after it was written"
        prev, expected_seq = event.hash, event.seq + 1
    return True, None, f"{count} events, chain intact"
