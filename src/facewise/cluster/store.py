"""A collection's SQLite file: photos, their faces (box, quality, embedding, thumbnail), clusters,
the user's decisions.

Tables: ``meta`` (the embedding space), ``photos`` (one row per distinct content, by sha256),
``paths`` (every path a photo was seen at, with size and mtime so an unchanged file is not read
again), ``faces`` (``cluster_id`` NULL while unclustered; ``pinned`` 1 when a user put the face
where it is; ``placed`` 0 until a clustering run has considered it), ``clusters`` (``name`` NULL
until named; ``person`` the gallery name it was enrolled as), ``rejections`` (a face a user took
out of a cluster never goes back), ``decisions`` (every user action, append-only).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.errors import EmbeddingSpaceMismatch, GalleryUnavailable
from facewise.types import EmbeddingSpace

FILE = "collection.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS photos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS paths (
    path TEXT PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS clusters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE,
    person TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    quality REAL NOT NULL,
    vector BLOB NOT NULL,
    thumbnail BLOB NOT NULL,
    cluster_id INTEGER REFERENCES clusters(id) ON DELETE SET NULL,
    pinned INTEGER NOT NULL DEFAULT 0,
    placed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS faces_cluster ON faces(cluster_id);
CREATE INDEX IF NOT EXISTS faces_photo ON faces(photo_id);
CREATE TABLE IF NOT EXISTS rejections (
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    cluster_id INTEGER NOT NULL,
    PRIMARY KEY (face_id, cluster_id)
);
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END;
"""


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class FaceRow:
    id: int
    photo_id: int
    path: str
    bbox: tuple[float, float, float, float]
    quality: float
    cluster_id: int | None
    pinned: bool


@dataclass(frozen=True, slots=True)
class ClusterRow:
    id: int
    name: str | None
    person: str | None


class CollectionStore:
    """The SQL of one collection folder. Every method is one transaction."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.folder / FILE, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise GalleryUnavailable(f"cannot open the collection in {self.folder}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: concurrent writers wait, never interleave)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, params).fetchall()

    # --- the space --------------------------------------------------------------------------

    def bind_space(self, db: sqlite3.Connection, space: EmbeddingSpace) -> None:
        found = db.execute("SELECT value FROM meta WHERE key = 'space'").fetchone()
        mine = json.dumps(space.as_dict(), sort_keys=True)
        if found is None:
            db.execute("INSERT INTO meta(key, value) VALUES('space', ?)", (mine,))
        elif found[0] != mine:
            raise EmbeddingSpaceMismatch(
                f"this collection holds {found[0]} vectors; refusing {mine} (use another "
                "collection folder for another model)"
            )

    # --- photos and faces -------------------------------------------------------------------

    def known_path(self, path: str, size: int, mtime_ns: int) -> bool:
        return bool(
            self.rows(
                "SELECT 1 FROM paths WHERE path = ? AND size = ? AND mtime_ns = ?",
                (path, size, mtime_ns),
            )
        )

    def photo_id(self, sha256: str) -> int | None:
        found = self.rows("SELECT id FROM photos WHERE sha256 = ?", (sha256,))
        return int(found[0][0]) if found else None

    def faces(self, where: str = "", params: Sequence[Any] = ()) -> list[FaceRow]:
        sql = (
            "SELECT f.id, f.photo_id, p.path, f.x1, f.y1, f.x2, f.y2, f.quality, f.cluster_id, "
            "f.pinned FROM faces f JOIN photos p ON p.id = f.photo_id "
            + (f"WHERE {where} " if where else "")
            + "ORDER BY f.id"
        )
        return [
            FaceRow(r[0], r[1], r[2], (r[3], r[4], r[5], r[6]), r[7], r[8], bool(r[9]))
            for r in self.rows(sql, params)
        ]

    def vectors(self, dim: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """(face ids, (N, dim) vectors) of every face, in id order."""
        rows = self.rows("SELECT id, vector FROM faces ORDER BY id")
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vectors = np.empty((len(rows), dim), dtype=np.float32)
        for i, (_, blob) in enumerate(rows):
            vectors[i] = np.frombuffer(blob, dtype=np.float32)
        return ids, vectors

    def thumbnail(self, face_id: int) -> bytes | None:
        found = self.rows("SELECT thumbnail FROM faces WHERE id = ?", (face_id,))
        return bytes(found[0][0]) if found else None

    def clusters(self) -> list[ClusterRow]:
        return [ClusterRow(*r) for r in self.rows("SELECT id, name, person FROM clusters")]

    def cluster(self, cluster_id: int) -> ClusterRow | None:
        found = self.rows("SELECT id, name, person FROM clusters WHERE id = ?", (cluster_id,))
        return ClusterRow(*found[0]) if found else None

    def rejections(self) -> list[tuple[int, int]]:
        return [
            (int(a), int(b)) for a, b in self.rows("SELECT face_id, cluster_id FROM rejections")
        ]

    def decisions(self) -> list[dict[str, Any]]:
        return [
            {"seq": s, "at": at, "actor": who, "action": a, **json.loads(d)}
            for s, at, who, a, d in self.rows(
                "SELECT seq, at, actor, action, details FROM decisions ORDER BY seq"
            )
        ]

    @staticmethod
    def decide(db: sqlite3.Connection, actor: str, action: str, **details: Any) -> None:
        db.execute(
            "INSERT INTO decisions(at, actor, action, details) VALUES(?, ?, ?, ?)",
            (now(), actor, action, json.dumps(details, sort_keys=True)),
        )

    @staticmethod
    def new_cluster(db: sqlite3.Connection, name: str | None = None) -> int:
        cur = db.execute("INSERT INTO clusters(name, created_at) VALUES(?, ?)", (name, now()))
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    @staticmethod
    def drop_empty_clusters(db: sqlite3.Connection) -> None:
        db.execute(
            "DELETE FROM clusters WHERE id NOT IN "
            "(SELECT cluster_id FROM faces WHERE cluster_id IS NOT NULL)"
        )


__all__ = ["FILE", "ClusterRow", "CollectionStore", "FaceRow", "now"]
