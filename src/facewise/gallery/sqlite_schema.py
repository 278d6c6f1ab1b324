"""The SQLite gallery's schema, and the one-time upgrade of galleries made by older versions."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
from pathlib import Path

from facewise.gallery.names import name_key

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    name_key TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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

INDEXES = """
CREATE INDEX IF NOT EXISTS samples_person ON samples(person_id);
CREATE INDEX IF NOT EXISTS samples_image ON samples(image_sha256);
CREATE INDEX IF NOT EXISTS samples_expiry ON samples(expires_at);
CREATE INDEX IF NOT EXISTS people_key ON people(name_key);
"""
"""Created after :meth:`SqliteStore._migrate` (an older gallery's ``people`` lacks ``name_key``)."""


def create_schema(db: sqlite3.Connection, path: Path) -> None:
    """Create the tables a new gallery lacks, upgrade an old one, then create the indexes."""
    db.executescript(SCHEMA)
    _migrate(db, path)
    db.executescript(INDEXES)


def _needs_migration(db: sqlite3.Connection) -> bool:
    tables = dict(
        db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
            "AND name IN ('people', 'samples')"
        ).fetchall()
    )
    people, samples = tables.get("people") or "", tables.get("samples") or ""
    return (
        "AUTOINCREMENT" not in people.upper()
        or "AUTOINCREMENT" not in samples.upper()
        or "name_key" not in people
    )


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring a gallery made before ids were AUTOINCREMENT (and before ``name_key``) to the
    current schema, once, in one transaction: ``people`` and ``samples`` are rebuilt with
    their rows and ids (foreign keys off meanwhile, checked before commit), and the id
    counters start above every id the gallery can have used, also of people and samples
    deleted before the upgrade: the number of enrolments and of enrolled samples in the
    audit log bound those."""
    if not _needs_migration(db):
        return
    db.execute("PRAGMA foreign_keys=OFF")
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            if _needs_migration(db):  # another process may have done it meanwhile
                _rebuild_tables(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.execute("PRAGMA foreign_keys=ON")
    log.info("upgraded %s: AUTOINCREMENT ids, name keys", path)


def _rebuild_tables(db: sqlite3.Connection) -> None:
    create = {
        name: text
        for name, text in re.findall(
            r"CREATE TABLE IF NOT EXISTS (people|samples) (\(.*?\n\));", SCHEMA, re.S
        )
    }
    for table in ("people", "samples"):
        columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        if table == "people":
            columns = [c for c in columns if c != "name_key"]
        names = ", ".join(columns)
        db.execute(f"DROP TABLE IF EXISTS {table}_upgrade")
        db.execute(f"CREATE TABLE {table}_upgrade {create[table]}")
        db.execute(f"INSERT INTO {table}_upgrade({names}) SELECT {names} FROM {table}")
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE {table}_upgrade RENAME TO {table}")
    for pid, name in db.execute("SELECT id, name FROM people").fetchall():
        db.execute("UPDATE people SET name_key = ? WHERE id = ?", (name_key(name), pid))
    enrolments, enrolled = 0, 0
    for (details,) in db.execute("SELECT details FROM audit WHERE action = 'enrol'"):
        enrolments += 1
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            enrolled += int(json.loads(details).get("samples", 0))
    for table, floor in (("people", enrolments), ("samples", enrolled)):
        top = db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]
        db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        db.execute(
            "INSERT INTO sqlite_sequence(name, seq) VALUES(?, ?)", (table, max(int(top), floor))
        )
    bad = db.execute("PRAGMA foreign_key_check").fetchall()
    if bad:
        raise sqlite3.DatabaseError(f"upgrade left {len(bad)} rows without their person")


__all__ = ["INDEXES", "SCHEMA", "create_schema"]
