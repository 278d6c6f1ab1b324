"""The append-only, hash-chained audit log: each event's hash covers the previous event's hash,
so editing, deleting or reordering any past event breaks every hash after it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from facewise.gallery.records import AuditEvent

GENESIS = "0" * 64

_PATH_KEYS = frozenset({"image", "images", "path", "paths", "source", "file", "files"})


def safe_text(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates (a non-UTF-8 file name read by the OS) become
    U+FFFD, so the text can be stored and printed."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate no file name decoding makes
        return text.encode("utf-8", "replace").decode("utf-8")


def base_name(text: str) -> str:
    """A file reference without its folders: the part after the last ``/`` or ``\\``."""
    text = safe_text(text)
    if "/" not in text and "\\" not in text:
        return text
    return text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "<file>"


def redact_paths(details: dict[str, Any]) -> dict[str, Any]:
    """Audit details as stored: under file-ish keys (``image``, ``path``, ``source``, ...) a path
    becomes its base name, so the log (readable through the service) names no server folder;
    every string is made valid UTF-8."""

    def clean(value: Any, filey: bool) -> Any:
        if isinstance(value, str):
            return base_name(value) if filey else safe_text(value)
        if isinstance(value, dict):
            return {safe_text(str(k)): clean(v, filey or k in _PATH_KEYS) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v, filey) for v in value]
        return value

    cleaned: dict[str, Any] = clean(details, False)
    return cleaned


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
