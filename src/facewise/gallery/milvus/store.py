"""The Milvus gallery store itself: :class:`MilvusStore`, opened from its URL, with enrolment,
the samples of a person, removal, expiry and compaction (its other contract methods come from
the classes it is built on: :class:`~facewise.gallery.milvus.search.Search` (vectors, search,
count, templates), :class:`~facewise.gallery.milvus.people.People` (people, rename, merge),
:class:`~facewise.gallery.milvus.audit.AuditLog` (audit, events),
:class:`~facewise.gallery.milvus.schema.Collections` (the collections, meta, the embedding
space) and :class:`~facewise.gallery.milvus.client.Connection` (pymilvus calls, close))."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np

from facewise.errors import Conflict, FacewiseError, InvalidInput, NameTaken, PersonNotFound
from facewise.gallery.audit import safe_text
from facewise.gallery.milvus.location import resolve
from facewise.gallery.milvus.schema import DUMMY, check_audit, check_text, quote
from facewise.gallery.milvus.search import Search
from facewise.gallery.names import person_name
from facewise.gallery.records import Added, NewSample, SampleInfo, utc_now
from facewise.types import EmbeddingSpace

log = logging.getLogger(__name__)


class MilvusStore(Search):
    """A gallery held in Milvus (a server, or Milvus Lite for one process). The same public
    methods and semantics as :class:`~facewise.gallery.sqlite_store.SqliteStore`, plus
    :meth:`search`, which lets Milvus answer 1:N queries."""

    erasure_steps = (
        "Milvus rows deleted",
        "collections compacted (Milvus Lite: live rows copied to fresh collections, old files "
        "deleted; a server: compaction, old segments removed after its garbage-collection delay)",
    )

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        super().__init__(url, resolve(str(url)), timeout=timeout)
        try:
            with self._lock:
                self._open_collections()
        except FacewiseError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise self._open_error(exc) from None

    def add_samples(
        self,
        name: str,
        space: EmbeddingSpace,
        samples: list[NewSample],
        *,
        consent: str,
        enrolled_by: str,
        expires_at: str | None,
        new: bool = False,
        person_id: int | None = None,
    ) -> Added:
        """Enrol ``samples`` for ``name`` (created if new); returns their ids. With ``new`` the
        person must not exist yet (:class:`Conflict`, or :class:`NameTaken` for a name that is
        the same under the name rule; checked under this process's write lock). With
        ``person_id`` that person must still exist under ``name`` (:class:`PersonNotFound`
        otherwise: forgotten, removed, renamed or merged since the caller looked them up), so
        an enrolment never re-creates or splits a person. A sample whose image the person
        already has, or that repeats one of this call, is not stored (its position is in the
        result's ``dropped``).

        All or nothing as far as Milvus allows: the samples go in with one insert call (which
        Milvus Lite writes as one WAL record), are read back, and on any failure (the insert,
        the check, the audit event) the samples, a person created by this call and a space
        bound by it are deleted again before the error is raised. A crash (killed process, lost
        server) between the steps can leave: the space bound with no samples; a new person with
        no samples; the samples without their audit event. It cannot leave part of a batch
        (one insert call), a sample without its person, or a reused id.
        """
        if person_id is None:
            name = person_name(name)
        if not consent.strip():
            raise InvalidInput("a consent basis is required to enrol a face")
        if expires_at == "":
            raise InvalidInput("expires_at must be an ISO-8601 time, or None for never")
        for s in samples:
            if s.vector.shape != (space.dim,):
                raise InvalidInput(f"vector of shape {s.vector.shape}, expected ({space.dim},)")
            if not np.all(np.isfinite(s.vector)):
                raise InvalidInput("a vector holds NaN or infinity")
            check_text(image_sha256=s.image_sha256, source=safe_text(s.source))
        check_text(consent=consent, enrolled_by=enrolled_by)
        check_text(expires_at=expires_at or "", limit=64)
        details = {
            "samples": len(samples),
            "consent": consent,
            "images": sorted({s.image_sha256 for s in samples}),
        }
        check_audit(enrolled_by, "enrol", name, details)
        if not samples:  # nothing to enrol: no person, no space binding, no audit event
            self.check_space(space)
            return Added()
        now = utc_now()
        with self._write():
            self.check_space(space)
            if person_id is not None:
                row = self._get("people", int(person_id), ["id", "name"])
                if row is None or row["name"] != name:
                    raise PersonNotFound(
                        f"{name!r} is no longer in the gallery (forgotten, removed, renamed or "
                        "merged while the request ran): nothing enrolled"
                    )
            else:
                row = self._person_row(name)
                if new and row is not None:
                    raise Conflict(f"a person named {row['name']!r} exists already")
                if row is None:
                    clash = self._taken(name)
                    if clash is not None:
                        raise NameTaken(
                            f"a person named {clash!r} exists already, the same "
                            f"name as {name!r} under the name rule"
                        )
                else:
                    name = str(row["name"])
            dropped, seen = [], set()
            if row is not None and self._samples() is not None:
                wanted = sorted({s.image_sha256 for s in samples})
                have = {
                    r["image_sha256"]
                    for r in self._query(
                        "samples",
                        f"person_id == {int(row['id'])} and image_sha256 in "
                        f"[{', '.join(quote(w) for w in wanted)}]",
                        ["image_sha256"],
                    )
                }
            else:
                have = set()
            kept = []
            for pos, s in enumerate(samples):
                if s.image_sha256 in have or s.image_sha256 in seen:
                    dropped.append(pos)
                else:
                    seen.add(s.image_sha256)
                    kept.append(s)
            if not kept:  # every image was there already: nothing changes
                return Added((), dropped, int(row["id"]) if row is not None else None)
            samples = kept
            details = {"samples": len(samples), "consent": consent, "images": sorted(seen)}
            self._bump_generation()
            bound = False
            created: int | None = None  # a person this call created
            ids: list[int] = []
            try:
                bound = self._bind_space(space)
                if row is None:
                    person_id = self._take_ids("next_person", 1)[0]
                    self._insert(
                        "people", [{"id": person_id, "name": name, "created_at": now, "pad": DUMMY}]
                    )
                    created = person_id
                    self._people_changed(added=(person_id, name))
                else:
                    person_id = int(row["id"])
                ids = self._take_ids("next_sample", len(samples))
                self._insert(
                    "samples",
                    [
                        {
                            "id": i,
                            "vector": np.asarray(s.vector, dtype=np.float32).tolist(),
                            "person_id": person_id,
                            "quality": float(s.quality),
                            "image_sha256": s.image_sha256,
                            "source": safe_text(s.source),
                            "consent": consent,
                            "enrolled_at": now,
                            "enrolled_by": enrolled_by,
                            "expires_at": expires_at or "",
                            "bbox": json.dumps(list(s.bbox)),
                        }
                        for i, s in zip(ids, samples, strict=True)
                    ],
                )
                stored = self._count(
                    "samples", f"id >= {ids[0]} and id <= {ids[-1]} and person_id == {person_id}"
                )  # consecutive ids
                if stored != len(ids):
                    raise FacewiseError(
                        f"Milvus holds {stored} of the {len(ids)} samples just inserted"
                    )
                self._audit(enrolled_by, "enrol", name, details)
            except BaseException:
                self._undo_enrolment(ids, created, bound)
                raise
            return Added(ids, dropped, person_id)

    def _undo_enrolment(self, ids: list[int], person_id: int | None, bound: bool) -> None:
        """Best effort: delete what a failed enrolment wrote (each step on its own)."""
        steps: list[tuple[str, Any]] = []
        if ids and self._dim is not None:
            steps.append(("samples", ids))
        if person_id is not None:
            steps.append(("people", [person_id]))
        if bound:
            steps.append(("meta", ["space"]))
        for what, keys in steps:
            try:
                self._delete(what, keys)
                if what == "people":
                    self._people_changed()
            except Exception:  # the original error matters more
                log.exception("could not undo a failed enrolment in %s", self._name(what))
                return  # keep the space bound while any sample may remain

    def has_image(self, name: str, image_sha256: str) -> bool:
        with self._lock:
            row = self._person_row(name)
            if row is None or self._samples() is None:
                return False
            expr = f"person_id == {int(row['id'])} and image_sha256 == {quote(image_sha256)}"
            return bool(self._query("samples", expr, ["id"], limit=1))

    def samples_of(self, name: str) -> list[SampleInfo]:
        with self._lock:
            row = self._person_row(name)
            if row is None or self._samples() is None:
                return []
            fields = [
                "id",
                "image_sha256",
                "source",
                "consent",
                "enrolled_at",
                "enrolled_by",
                "expires_at",
                "quality",
                "bbox",
            ]
            rows = self._select(
                "samples",
                f"person_id == {int(row['id'])}",
                fields,
                key="id",
                end=self._counter("next_sample"),
            )
            return [
                SampleInfo(
                    int(r["id"]),
                    row["name"],
                    r["image_sha256"],
                    r["source"],
                    r["consent"],
                    r["enrolled_at"],
                    r["enrolled_by"],
                    r["expires_at"] or None,
                    float(r["quality"]),
                    tuple(json.loads(r["bbox"])),
                )
                for r in sorted(rows, key=lambda r: int(r["id"]))
            ]

    def remove_person(
        self,
        name: str,
        *,
        actor: str,
        action: str = "remove",
        details: dict[str, Any] | None = None,
    ) -> list[int]:
        """Delete a person and every sample of theirs; returns the removed sample ids. The
        samples go first, then the person, then the audit event: a crash leaves the person
        without samples (removing again finishes it), never samples without their person."""
        with self._write():
            person = self.require(name)
            ids: list[int] = []
            if self._samples() is not None:
                rows = self._select(
                    "samples",
                    f"person_id == {person.id}",
                    ["id"],
                    key="id",
                    end=self._counter("next_sample"),
                )
                ids = sorted(int(r["id"]) for r in rows)
            event = {"samples": len(ids), **(details or {})}
            check_audit(actor, action, name, event)
            self._bump_generation()
            self._delete("samples", ids)
            self._delete("people", [person.id])
            self._people_changed()
            self._audit(actor, action, name, event)
            return ids

    def purge_expired(self, *, actor: str, now: str | None = None) -> list[int]:
        now = now or utc_now()
        with self._write():
            ids: list[int] = []
            if self._samples() is not None:
                rows = self._select(
                    "samples",
                    f'expires_at != "" and expires_at <= {quote(now)}',
                    ["id"],
                    key="id",
                    end=self._counter("next_sample"),
                )
                ids = sorted(int(r["id"]) for r in rows)
            self._bump_generation()
            self._delete("samples", ids)
            self._audit(actor, "purge-expired", "*", {"samples": len(ids), "before": now})
            return ids

    def compact(self) -> None:
        """Flush, then make deleted people and vectors leave storage. A Milvus server is asked
        to compact (its garbage collector removes the old segment files later, after its
        ``dataCoord.gc.dropTolerance``). Milvus Lite's compact is a no-op, so there the live
        rows of ``samples`` and ``people`` are copied into fresh collections and the old ones
        dropped (their files are deleted, not overwritten); a crash midway is repaired when the
        gallery is next opened."""
        with self._write():
            whats = ["people"] + (["samples"] if self._samples() is not None else [])
            for what in ["meta", "audit", *whats]:
                self._call("flush", self._name(what))
            if self._is_lite:
                for what in whats:
                    self._rewrite(what)
                return
            for what in whats:
                job = self._compact_job(self._name(what))
                deadline = time.monotonic() + self._timeout
                while time.monotonic() < deadline:
                    if str(self._call("get_compaction_state", job)) != "Executing":
                        break
                    time.sleep(0.2)
                else:
                    log.warning(
                        "compaction of %s still running after %.0f s",
                        self._name(what),
                        self._timeout,
                    )


__all__ = ["MilvusStore"]
