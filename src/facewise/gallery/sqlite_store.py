"""The embedded gallery store: one SQLite database (WAL mode), the source of truth.

Tables: ``meta`` (the embedding space the gallery is bound to, a write generation), ``people``,
``samples`` (float32 vector BLOB + consent and provenance), ``audit`` (hash-chained events, no
embeddings). Every write is one transaction; ``synchronous=FULL`` makes a committed enrolment
survive a killed process or a power cut. ``secure_delete`` overwrites deleted rows, and
:meth:`SqliteStore.compact` checkpoints the WAL and vacuums, so erased vectors leave the disk.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.errors import (
    Conflict,
    EmbeddingSpaceMismatch,
    InvalidInput,
    NameTaken,
    PersonNotFound,
)
from facewise.files import private_file
from facewise.gallery.audit import GENESIS, event_hash, redact_paths, safe_text
from facewise.gallery.names import lookup_forms, name_key, person_name
from facewise.gallery.records import (
    Added,
    AuditEvent,
    NewSample,
    Person,
    SampleInfo,
    utc_now,
)
from facewise.gallery.sqlite_schema import create_schema
from facewise.types import EmbeddingSpace

log = logging.getLogger(__name__)


def _space_json(space: EmbeddingSpace) -> str:
    return json.dumps(space.as_dict(), sort_keys=True)


class SqliteStore:
    """A gallery database file. Safe for several threads of one process (one writer at a time)
    and for concurrent reader processes (WAL)."""

    erasure_steps = (
        "sqlite rows (overwritten: secure_delete)",
        "sqlite WAL (checkpointed and truncated)",
        "sqlite free pages (VACUUM)",
    )

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        private_file(self.path)
        self._lock = threading.RLock()
        self._unchanged = False
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA secure_delete=ON")
            create_schema(self._db, self.path)
        except sqlite3.DatabaseError as exc:
            raise InvalidInput(f"{self.path} is not a facewise gallery database: {exc}") from None

    # --- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _write(self, *, changes_vectors: bool = True) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction; a change to the vectors bumps the generation, so index
        caches know they are stale."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._unchanged = False
            try:
                yield self._db
                if changes_vectors and not self._unchanged:
                    self._db.execute(
                        "INSERT INTO meta(key, value) VALUES('generation', '1') ON CONFLICT(key) "
                        "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def generation(self) -> int:
        rows = self._rows("SELECT value FROM meta WHERE key = 'generation'")
        return int(rows[0][0]) if rows else 0

    # --- the embedding space --------------------------------------------------------------------

    def space(self) -> EmbeddingSpace | None:
        rows = self._rows("SELECT value FROM meta WHERE key = 'space'")
        if not rows:
            return None
        return EmbeddingSpace(**json.loads(rows[0][0]))

    def check_space(self, space: EmbeddingSpace) -> None:
        bound = self.space()
        if bound is not None and bound != space:
            raise EmbeddingSpaceMismatch(
                f"this gallery holds {bound.as_dict()} vectors; refusing {space.as_dict()} "
                "(use another FACEWISE_HOME, or the same model and settings)"
            )

    # --- people -----------------------------------------------------------------------------------

    def _find(self, db: sqlite3.Connection, name: str) -> tuple[int, str] | None:
        """(id, stored name) of the person named ``name`` as given or in its NFKC form."""
        given, nfkc = lookup_forms(name)
        row = db.execute(
            "SELECT id, name FROM people WHERE name IN (?, ?) ORDER BY name = ? DESC LIMIT 1",
            (given, nfkc, given),
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def _stored_name(self, name: str) -> str:
        with self._lock:
            found = self._find(self._db, name)
        return found[1] if found else name

    def _taken(self, db: sqlite3.Connection, name: str, *, other_than: int = 0) -> str | None:
        """The stored name that ``name`` clashes with under the name rule, if any."""
        row = db.execute(
            "SELECT name FROM people WHERE (name = ? OR name_key = ?) AND id != ? LIMIT 1",
            (name, name_key(name), other_than),
        ).fetchone()
        return str(row[0]) if row else None

    def person(self, name: str) -> Person | None:
        with self._lock:
            found = self._find(self._db, name)
            if found is None:
                return None
            rows = self._db.execute(
                "SELECT p.id, p.name, p.created_at, COUNT(s.id) FROM people p "
                "LEFT JOIN samples s ON s.person_id = p.id WHERE p.id = ? GROUP BY p.id",
                (found[0],),
            ).fetchall()
        return Person(*rows[0]) if rows else None

    def require(self, name: str) -> Person:
        found = self.person(name)
        if found is None:
            raise InvalidInput(f"no person named {name!r} in the gallery")
        return found

    def people(self) -> list[Person]:
        rows = self._rows(
            "SELECT p.id, p.name, p.created_at, COUNT(s.id) FROM people p "
            "LEFT JOIN samples s ON s.person_id = p.id GROUP BY p.id ORDER BY p.name"
        )
        return [Person(*r) for r in rows]

    def names(self, ids: Iterable[int] | None = None) -> dict[int, str]:
        """Person id -> name, for ``ids`` only when given (the hot path of identification)."""
        if ids is None:
            return dict(self._rows("SELECT id, name FROM people"))
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        return dict(self._rows(f"SELECT id, name FROM people WHERE id IN ({marks})", tuple(wanted)))

    def rename(self, old: str, new: str, *, actor: str) -> Person:
        new = person_name(new)
        with self._write(changes_vectors=False) as db:
            person = self.require(old)
            clash = self._taken(db, new, other_than=person.id)
            if clash is not None:
                raise NameTaken(f"a person named {clash!r} already exists; merge instead")
            db.execute(
                "UPDATE people SET name = ?, name_key = ? WHERE id = ?",
                (new, name_key(new), person.id),
            )
            self._audit(db, actor, "rename", person.name, {"new_name": new})
        return self.require(new)

    def merge(self, source: str, target: str, *, actor: str) -> Person:
        with self._write() as db:
            src, dst = self.require(source), self.require(target)
            if src.id == dst.id:
                raise InvalidInput("cannot merge a person into themselves")
            db.execute("UPDATE samples SET person_id = ? WHERE person_id = ?", (dst.id, src.id))
            db.execute("DELETE FROM people WHERE id = ?", (src.id,))
            self._audit(db, actor, "merge", src.name, {"into": dst.name, "samples": src.samples})
        return self.require(dst.name)

    # --- samples ----------------------------------------------------------------------------------

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
        """Enrol ``samples`` for ``name`` in one transaction; returns the new sample ids.

        Who they are for is decided inside that transaction: with ``person_id`` (the id the
        caller looked up when its request began) that person must still exist under ``name``,
        else :class:`PersonNotFound` — a person forgotten, removed, renamed or merged meanwhile
        is never re-created or split by an enrolment. With ``new`` the name must be free
        (:class:`Conflict`; a name that is the same under the name rule: :class:`NameTaken`), so
        two processes creating one name cannot both succeed. With neither, the person is
        created if no one has the name. A sample whose image the person already has (or that
        repeats one of this call) is not stored: its position is in the result's ``dropped``."""
        if person_id is None:
            name = person_name(name)
        if not consent.strip():
            raise InvalidInput("a consent basis is required to enrol a face")
        for s in samples:
            if s.vector.shape != (space.dim,):
                raise InvalidInput(f"vector of shape {s.vector.shape}, expected ({space.dim},)")
        if not samples:  # nothing to enrol: no person, no space binding, no audit event
            self.check_space(space)
            return Added()
        now = utc_now()
        with self._write() as db:
            self.check_space(space)
            if person_id is not None:
                row = db.execute("SELECT name FROM people WHERE id = ?", (person_id,)).fetchone()
                if row is None or row[0] != name:
                    raise PersonNotFound(
                        f"{name!r} is no longer in the gallery (forgotten, removed, renamed or "
                        "merged while the request ran): nothing enrolled"
                    )
                pid = int(person_id)
            else:
                found = self._find(db, name)
                if new and found is not None:
                    raise Conflict(f"a person named {found[1]!r} exists already")
                if found is None:
                    clash = self._taken(db, name)
                    if clash is not None:
                        raise NameTaken(
                            f"a person named {clash!r} exists already, the same name as "
                            f"{name!r} under the name rule"
                        )
                    cur = db.execute(
                        "INSERT INTO people(name, created_at, name_key) VALUES(?, ?, ?)",
                        (name, now, name_key(name)),
                    )
                    pid = int(cur.lastrowid or 0)
                else:
                    pid, name = found
            db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES('space', ?)", (_space_json(space),)
            )
            ids, dropped, seen = Added(), [], set()
            for pos, s in enumerate(samples):
                if (
                    s.image_sha256 in seen
                    or db.execute(
                        "SELECT 1 FROM samples WHERE person_id = ? AND image_sha256 = ? LIMIT 1",
                        (pid, s.image_sha256),
                    ).fetchone()
                ):
                    dropped.append(pos)
                    continue
                seen.add(s.image_sha256)
                cur = db.execute(
                    "INSERT INTO samples(person_id, vector, quality, image_sha256, source, consent,"
                    " enrolled_at, enrolled_by, expires_at, bbox) VALUES(?,?,?,?,?,?,?,?,?,?)",
                    (
                        pid,
                        np.asarray(s.vector, dtype="<f4").tobytes(),
                        float(s.quality),
                        s.image_sha256,
                        safe_text(s.source),
                        consent,
                        now,
                        enrolled_by,
                        expires_at,
                        json.dumps(list(s.bbox)),
                    ),
                )
                ids.append(int(cur.lastrowid or 0))
            ids.dropped, ids.person_id = dropped, pid
            if ids:
                self._audit(
                    db,
                    enrolled_by,
                    "enrol",
                    name,
                    {
                        "samples": len(ids),
                        "consent": consent,
                        "images": sorted(seen),
                    },
                )
            else:  # every image was there already: nothing changed
                self._unchanged = True
        return ids

    def has_image(self, name: str, image_sha256: str) -> bool:
        rows = self._rows(
            "SELECT 1 FROM samples s JOIN people p ON p.id = s.person_id "
            "WHERE p.name = ? AND s.image_sha256 = ? LIMIT 1",
            (self._stored_name(name), image_sha256),
        )
        return bool(rows)

    def samples_of(self, name: str) -> list[SampleInfo]:
        rows = self._rows(
            "SELECT s.id, p.name, s.image_sha256, s.source, s.consent, s.enrolled_at, "
            "s.enrolled_by, s.expires_at, s.quality, s.bbox FROM samples s "
            "JOIN people p ON p.id = s.person_id WHERE p.name = ? ORDER BY s.id",
            (self._stored_name(name),),
        )
        return [
            SampleInfo(
                id=r[0],
                person=r[1],
                image_sha256=r[2],
                source=r[3],
                consent=r[4],
                enrolled_at=r[5],
                enrolled_by=r[6],
                expires_at=r[7],
                quality=r[8],
                bbox=tuple(json.loads(r[9])),
            )
            for r in rows
        ]

    def next_expiry(self, *, now: str) -> str | None:
        """The earliest expiry still ahead of ``now`` (ISO UTC), or None: until then the live
        samples stay as they are."""
        rows = self._rows("SELECT MIN(expires_at) FROM samples WHERE expires_at > ?", (now,))
        return rows[0][0] if rows and rows[0][0] is not None else None

    def vectors(
        self, *, now: str | None = None, person: str | None = None
    ) -> tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.float32],
        npt.NDArray[np.float32],
    ]:
        """Live (unexpired) samples: (sample ids, person ids, vectors (N, D), qualities)."""
        now = now or utc_now()
        sql = (
            "SELECT s.id, s.person_id, s.vector, s.quality FROM samples s "
            "JOIN people p ON p.id = s.person_id "
            "WHERE (s.expires_at IS NULL OR s.expires_at > ?)"
        )
        args: tuple[Any, ...] = (now,)
        if person is not None:
            sql += " AND p.name = ?"
            args += (self._stored_name(person),)
        rows = self._rows(sql + " ORDER BY s.id", args)
        space = self.space()
        dim = space.dim if space else 0
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros((0, dim), np.float32), np.zeros(0, np.float32)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        owners = np.array([r[1] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), -1)
        quality = np.array([r[3] for r in rows], dtype=np.float32)
        return ids, owners, vecs.astype(np.float32), quality

    def remove_person(
        self,
        name: str,
        *,
        actor: str,
        action: str = "remove",
        details: dict[str, Any] | None = None,
    ) -> list[int]:
        """Delete a person and every sample of theirs; returns the removed sample ids."""
        with self._write() as db:
            person = self.require(name)
            rows = db.execute("SELECT id FROM samples WHERE person_id = ?", (person.id,))
            ids = [r[0] for r in rows.fetchall()]
            db.execute("DELETE FROM samples WHERE person_id = ?", (person.id,))
            db.execute("DELETE FROM people WHERE id = ?", (person.id,))
            self._audit(db, actor, action, person.name, {"samples": len(ids), **(details or {})})
        return ids

    def purge_expired(self, *, actor: str, now: str | None = None) -> list[int]:
        now = now or utc_now()
        with self._write() as db:
            expired = "FROM samples WHERE expires_at IS NOT NULL AND expires_at <= ?"
            ids = [r[0] for r in db.execute(f"SELECT id {expired}", (now,)).fetchall()]
            db.execute(f"DELETE {expired}", (now,))
            self._audit(db, actor, "purge-expired", "*", {"samples": len(ids), "before": now})
        return ids

    def compact(self) -> None:
        """Checkpoint the WAL into the database, truncate it, and vacuum: freed pages (already
        zeroed by secure_delete) leave the file."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- audit ------------------------------------------------------------------------------------

    def audit(self, actor: str, action: str, subject: str, details: dict[str, Any]) -> AuditEvent:
        with self._write(changes_vectors=False) as db:
            return self._audit(db, actor, action, subject, details)

    def _audit(
        self, db: sqlite3.Connection, actor: str, action: str, subject: str, details: dict[str, Any]
    ) -> AuditEvent:
        actor, subject, details = safe_text(actor), safe_text(subject), redact_paths(details)
        last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        at = utc_now()
        digest = event_hash(prev, seq, at, actor, action, subject, details)
        db.execute(
            "INSERT INTO audit VALUES(?,?,?,?,?,?,?,?)",
            (seq, at, actor, action, subject, json.dumps(details, sort_keys=True), prev, digest),
        )
        return AuditEvent(seq, at, actor, action, subject, details, prev, digest)

    def events(self, *, since: int = 0, limit: int | None = None) -> list[AuditEvent]:
        sql = "SELECT * FROM audit WHERE seq > ? ORDER BY seq"
        args: tuple[Any, ...] = (since,)
        if limit is not None:
            sql += " LIMIT ?"
            args += (limit,)
        return [
            AuditEvent(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7])
            for r in self._rows(sql, args)
        ]
