"""Verifiable forgetting (right to erasure).

``forget`` removes every sample of a person from SQLite (rows overwritten by secure_delete, WAL
checkpointed and truncated, database vacuumed), drops their vectors from the index and rewrites
the index cache file, then re-probes the index with the person's own erased vectors (held in
memory only for this check) to show that none of them matches anyone under that person's id.
The receipt says what was removed (counts, hashes of the removed sample ids, when), carries its
own sha256, and that hash is written into the audit chain, so a receipt can later be checked
against the log (:func:`verify_receipt`).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from facewise.gallery.records import utc_now

if TYPE_CHECKING:
    from facewise.gallery.gallery import Gallery


def _digest(obj: Any) -> str:
    body = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def forget(gallery: Gallery, person: str, *, actor: str) -> dict[str, Any]:
    store = gallery.store
    who = store.require(person)
    _, _, erased, _ = store.vectors(person=person, now="0000")  # expired ones too
    images = sorted({s.image_sha256 for s in store.samples_of(person)})
    removed = store.remove_person(person, actor=actor, action="forget")
    gallery.rebuild_index()  # rewrites the cache file without the erased vectors
    store.compact()
    threshold = gallery.threshold()
    probe: dict[str, Any] = {
        "probes": len(erased),
        "matched_forgotten_person": 0,
        "best_other_score": None,
        "threshold": threshold,
        "accepted_as_someone_else": 0,
    }
    if len(erased):
        ranked = gallery.rank(erased, top=1)
        best = [c[0] for c in ranked if c]
        probe["matched_forgotten_person"] = sum(c.person == person for c in best)
        if best:
            probe["best_other_score"] = round(max(c.score for c in best), 6)
            probe["accepted_as_someone_else"] = sum(c.score >= threshold for c in best)
    erased[:] = 0  # drop the in-memory copy as soon as the probe is done
    del erased
    receipt: dict[str, Any] = {
        "person": person,
        "person_id": who.id,
        "removed_samples": len(removed),
        "removed_sample_id_hashes": [
            hashlib.sha256(f"{who.id}:{i}".encode()).hexdigest() for i in removed
        ],
        "source_images": len(images),
        "at": utc_now(),
        "by": actor,
        "erased_from": [
            *store.erasure_steps,
            *(["vector index (rebuilt, cache file rewritten)"] if gallery.home else []),
        ],
        "reprobe": probe,
        "verified": probe["matched_forgotten_person"] == 0,
    }
    receipt["receipt_sha256"] = _digest(receipt)
    event = store.audit(
        actor,
        "forget-receipt",
        person,
        {"receipt_sha256": receipt["receipt_sha256"], "removed_samples": len(removed)},
    )
    receipt["audit_seq"] = event.seq
    return receipt


def verify_receipt(gallery: Gallery, receipt: dict[str, Any]) -> tuple[bool, str]:
    """Check a receipt: its own hash, the audit event that recorded it, the chain, and that the
    gallery holds nobody under that name any more."""
    from facewise.gallery.audit import verify_chain

    body = {k: v for k, v in receipt.items() if k not in ("receipt_sha256", "audit_seq")}
    if _digest(body) != receipt.get("receipt_sha256"):
        return False, "the receipt was altered (its hash does not match its content)"
    events = gallery.store.events()
    ok, _, why = verify_chain(events)
    if not ok:
        return False, f"the audit log is broken: {why}"
    match = [
        e
        for e in events
        if e.seq == receipt.get("audit_seq")
        and e.action == "forget-receipt"
        and e.details.get("receipt_sha256") == receipt["receipt_sha256"]
    ]
    if not match:
        return False, "no audit event records this receipt"
    if gallery.store.person(receipt["person"]) is not None:
        return False, f"{receipt['person']!r} is enrolled again since the receipt"
    return True, "receipt matches the audit log; the person is not in the gallery"


__all__ = ["forget", "verify_receipt"]
