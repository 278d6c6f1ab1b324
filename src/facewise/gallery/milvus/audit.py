"""The gallery's audit log in Milvus: hash-chained events in the ``audit`` collection (no
embeddings), its head kept in ``meta``. Append-only through this API, but Milvus cannot refuse
an edit from a raw client: tamper-evident (:func:`facewise.gallery.audit.verify_chain`), not
tamper-proof."""

from __future__ import annotations

import json
from typing import Any

from facewise.gallery.audit import GENESIS, event_hash, redact_paths, safe_text
from facewise.gallery.milvus.schema import DUMMY, Collections, check_audit, chunks
from facewise.gallery.records import AuditEvent, utc_now


class AuditLog(Collections):
    """Appending events to the audit chain and reading them back."""

    def audit(self, actor: str, action: str, subject: str, details: dict[str, Any]) -> AuditEvent:
        check_audit(actor, action, subject, details)
        with self._write():
            return self._audit(actor, action, subject, details)

    def _tail(self) -> tuple[int, str]:
        """(seq, hash) of the last event. The head in ``meta`` is written after each event, so
        after a crash the events past it are found by probing."""
        seq, digest = 0, GENESIS
        head = self._meta("audit_head")
        if head is not None:
            seq_text, _, digest = head.partition(" ")
            seq = int(seq_text)
        while True:
            row = self._get("audit", seq + 1, ["hash"])
            if row is None:
                return seq, digest
            seq, digest = seq + 1, str(row["hash"])

    def _audit(self, actor: str, action: str, subject: str, details: dict[str, Any]) -> AuditEvent:
        actor, subject, details = safe_text(actor), safe_text(subject), redact_paths(details)
        last, prev = self._tail()
        seq, at = last + 1, utc_now()
        digest = event_hash(prev, seq, at, actor, action, subject, details)
        text = json.dumps(details, sort_keys=True)
        self._insert(
            "audit",
            [
                {
                    "seq": seq,
                    "at": at,
                    "actor": actor,
                    "action": action,
                    "subject": subject,
                    "details": chunks(text),
                    "prev_hash": prev,
                    "hash": digest,
                    "pad": DUMMY,
                }
            ],
        )
        self._set_meta("audit_head", f"{seq} {digest}")
        return AuditEvent(seq, at, actor, action, subject, details, prev, digest)

    def events(self, *, since: int = 0, limit: int | None = None) -> list[AuditEvent]:
        with self._lock:
            last, _ = self._tail()
            end = last + 1 if limit is None else min(last + 1, since + 1 + max(limit, 0))
            if end <= since + 1:
                return []
            fields = ["seq", "at", "actor", "action", "subject", "details", "prev_hash", "hash"]
            rows = self._select(
                "audit", f"seq > {int(since)} and seq < {end}", fields, key="seq", end=end
            )
            events = [
                AuditEvent(
                    int(r["seq"]),
                    r["at"],
                    r["actor"],
                    r["action"],
                    r["subject"],
                    json.loads("".join(r["details"])),
                    r["prev_hash"],
                    r["hash"],
                )
                for r in sorted(rows, key=lambda r: int(r["seq"]))
            ]
            return events if limit is None else events[:limit]


__all__ = ["AuditLog"]
