"""The embedded gallery store: one SQLite database (WAL mode), the source of truth.

Tables: ``meta`` (the embedding space the gallery is bound to, a write generation), ``people``,
``samples`` (float32 vector BLOB + consent and provenance), ``audit`` (hash-chained events, no
embeddings). Every write is one transaction; ``synchronous=FULL`` makes a committed enrolment
survive a killed process or a power cut. ``secure_delete`` overwrites deleted rows, and
:meth:`SqliteStore.compact` checkpoints the WAL and vacuums, so erased vectors leave the disk.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.errors import Conflict, EmbeddingSpaceMismatch, InvalidInput
from facewise.gallery.audit import GENESIS, event_hash
from facewise.gallery.records import AuditEvent, NewSample, Person, SampleInfo, utc_now
from facewise.types import EmbeddingSpace

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    vector BLOB NOT NULL,
    quality REAL NOT NULL,
    image_sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    consent TEXT NOT NULL,
    enrolled_at TEXT NOT NULL,
    enrolled_by TEXT NOT NULL,
    expires_at TEXT,
    bbox TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_person ON samples(person_id);
CREATE INDEX IF NOT EXISTS samples_image ON samples(image_sha256);
CREATE INDEX IF NOT EXISTS samples_expiry ON samples(expires_at);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise InvalidInput(f"{self.path} is not a facewise gallery database: {exc}") from None
        self._lock = threading.RLock()

    # --- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _write(self, *, changes_vectors: bool = True) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction; a change to the vectors bumps the generation, so index
        caches know they are stale."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                if changes_vectors:
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

    def person(self, name: str) -> Person | None:
        rows = self._rows(
            "SELECT p.id, p.name, p.created_at, COUNT(s.id) FROM people p "
            "LEFT JOIN samples s ON s.person_id = p.id WHERE p.name = ? GROUP BY p.id",
            (name,),
        )
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
        return dict(self._rows(f"SELECT id, name FROM people WHERE id IN ({marks})",
                               tuple(wanted)))

    def rename(self, old: str, new: str, *, actor: str) -> Person:
        _check_name(new)
        with self._write(changes_vectors=False) as db:
            person = self.require(old)
            if self.person(new) is not None:
                raise InvalidInput(f"a person named {new!r} already exists; merge instead")
            db.execute("UPDATE people SET name = ? WHERE id = ?", (new, person.id))
            self._audit(db, actor, "rename", old, {"new_name": new})
        return self.require(new)

    def merge(self, source: str, target: str, *, actor: str) -> Person:
        with self._write() as db:
            src, dst = self.require(source), self.require(target)
            if src.id == dst.id:
                raise InvalidInput("cannot merge a person into themselves")
            db.execute("UPDATE samples SET person_id = ? WHERE person_id = ?", (dst.id, src.id))
            db.execute("DELETE FROM people WHERE id = ?", (src.id,))
            self._audit(db, actor, "merge", source, {"into": target, "samples": src.samples})
        return self.require(target)

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
    ) -> list[int]:
        """Enrol ``samples`` for ``name`` (created if new) in one transaction; returns row ids.
        With ``new`` the person must not exist yet (:class:`Conflict`), checked in the same
        transaction, so two processes creating one name cannot both succeed."""
        _check_name(name)
        if not consent.strip():
            raise InvalidInput("a consent basis is required to enrol a face")
        for s in samples:
            if s.vector.shape != (space.dim,):
                raise InvalidInput(f"vector of shape {s.vector.shape}, expected ({space.dim},)")
        if not samples:  # nothing to enrol: no person, no space binding, no audit event
            self.check_space(space)
            return []
        now = utc_now()
        with self._write() as db:
            self.check_space(space)
            db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES('space', ?)", (_space_json(space),)
            )
            if new and db.execute("SELECT 1 FROM people WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"a person named {name!r} exists already")
            db.execute("INSERT OR IGNORE INTO people(name, created_at) VALUES(?, ?)", (name, now))
            person_id = db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()[0]
            ids = []
            for s in samples:
                cur = db.execute(
                    "INSERT INTO samples(person_id, vector, quality, image_sha256, source, consent,"
                    " enrolled_at, enrolled_by, expires_at, bbox) VALUES(?,?,?,?,?,?,?,?,?,?)",
                    (
                        person_id,
                        np.asarray(s.vector, dtype="<f4").tobytes(),
                        float(s.quality),
                        s.image_sha256,
                        s.source,
                        consent,
                        now,
                        enrolled_by,
                        expires_at,
                        json.dumps(list(s.bbox)),
                    ),
                )
                ids.append(int(cur.lastrowid or 0))
            if samples:
                self._audit(
                    db,
                    enrolled_by,
                    "enrol",
                    name,
                    {
                        "samples": len(samples),
                        "consent": consent,
                        "images": sorted({s.image_sha256 for s in samples}),
                    },
                )
        return ids

    def has_image(self, name: str, image_sha256: str) -> bool:
        rows = self._rows(
            "SELECT 1 FROM samples s JOIN people p ON p.id = s.person_id "
            "WHERE p.name = ? AND s.image_sha256 = ? LIMIT 1",
            (name, image_sha256),
        )
        return bool(rows)

    def samples_of(self, name: str) -> list[SampleInfo]:
        rows = self._rows(
            "SELECT s.id, p.name, s.image_sha256, s.source, s.consent, s.enrolled_at, "
            "s.enrolled_by, s.expires_at, s.quality, s.bbox FROM samples s "
            "JOIN people p ON p.id = s.person_id WHERE p.name = ? ORDER BY s.id",
            (name,),
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
            args += (person,)
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
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM samples WHERE person_id = ?", (person.id,)
                ).fetchall()
            ]
            db.execute("DELETE FROM samples WHERE person_id = ?", (person.id,))
            db.execute("DELETE FROM people WHERE id = ?", (person.id,))
            self._audit(db, actor, action, name, {"samples": len(ids), **(details or {})})
        return ids

    def purge_expired(self, *, actor: str, now: str | None = None) -> list[int]:
        now = now or utc_now()
        with self._write() as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM samples WHERE expires_at IS NOT NULL AND expires_at <= ?",
                    (now,),
                ).fetchall()
            ]
            db.execute(
                "DELETE FROM samples WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )
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


def _check_name(name: str) -> None:
    if not name or not name.strip() or len(name) > 200 or any(c in name for c in "\n\r\t\0"):
        raise InvalidInput(f"invalid person name {name!r}: 1-200 characters, no control characters")
