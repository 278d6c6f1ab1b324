"""API keys: random secrets handed out once, stored only as SHA-256 hashes.

A key reads ``fw_<id>_<secret>``: ``id`` (8 hex digits) is public and names the key in listings;
``secret`` is ``secrets.token_urlsafe(32)``. The store (``FACEWISE_HOME/keys.db``, SQLite, mode
0600) holds the id, a name, the scope, and the SHA-256 of the whole key; a presented key is
checked with :func:`hmac.compare_digest`. Revoked keys stay listed (the audit log names them).

Scopes are cumulative: ``read`` (detect, identify, list) < ``enrol`` (add people and samples) <
``admin`` (rename, merge, remove, forget, audit).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facewise.errors import InvalidInput
from facewise.files import private_file
from facewise.gallery.records import utc_now

SCOPES = ("read", "enrol", "admin")
"""From least to most: each scope includes the ones before it."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_KEY = re.compile(r"^fw_([0-9a-f]{8})_([A-Za-z0-9_-]{20,100})$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


def scopes_of(scope: str) -> list[str]:
    """The scopes a key of ``scope`` holds: ``enrol`` -> ``["read", "enrol"]``."""
    return list(SCOPES[: SCOPES.index(scope) + 1])


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


_DUMMY = _digest("fw_00000000_" + "x" * 43)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    scope: str
    created_at: str
    revoked_at: str | None

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "scopes": scopes_of(self.scope),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


class KeyStore:
    """The API keys of one FACEWISE_HOME. Safe for the threads of one process; several processes
    (uvicorn workers, the CLI) share the file through SQLite's locking."""

    def __init__(self, home: Path | str) -> None:
        self.path = Path(home) / "keys.db"
        private_file(self.path)
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise InvalidInput(f"{self.path} is not a facewise key store: {exc}") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create(self, scope: str, *, name: str | None = None) -> tuple[str, ApiKey]:
        """A new key of ``scope``: (the key itself, shown this once; its record)."""
        if scope not in SCOPES:
            raise InvalidInput(f"unknown scope {scope!r}; choose from {', '.join(SCOPES)}")
        key_id = secrets.token_hex(4)
        name = name if name is not None else f"key-{key_id}"
        if not _NAME.match(name):
            raise InvalidInput(
                f"invalid key name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit"
            )
        key = f"fw_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id, name, scope, utc_now(), None)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO keys(id, name, scope, sha256, created_at) VALUES(?,?,?,?,?)",
                    (key_id, name, scope, _digest(key), record.created_at),
                )
            except sqlite3.IntegrityError:
                raise InvalidInput(
                    f"a key named {name!r} exists already (revoked keys keep their names)"
                ) from None
        return key, record

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, scope, created_at, revoked_at FROM keys ORDER BY created_at, id"
            ).fetchall()
        return [ApiKey(*r) for r in rows]

    def revoke(self, id_or_name: str) -> ApiKey:
        with self._lock:
            row = None
            for column in ("id", "name"):  # an id wins over a name that looks like one
                row = self._db.execute(
                    f"SELECT id, name, scope, created_at, revoked_at FROM keys WHERE {column} = ?",
                    (id_or_name,),
                ).fetchone()
                if row:
                    break
            if row is None:
                raise InvalidInput(f"no key with id or name {id_or_name!r}")
            found = ApiKey(*row)
            if found.revoked_at is None:
                self._db.execute(
                    "UPDATE keys SET revoked_at = ? WHERE id = ?", (utc_now(), found.id)
                )
        return self.get(found.id) or found

    def get(self, key_id: str) -> ApiKey | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, scope, created_at, revoked_at FROM keys WHERE id = ?", (key_id,)
            ).fetchone()
        return ApiKey(*row) if row else None

    def check(self, key: str) -> ApiKey | None:
        """The live key record for a presented key, or None (unknown, wrong, revoked alike)."""
        match = _KEY.match(key)
        key_id = match.group(1) if match else "-"
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, scope, created_at, revoked_at, sha256 FROM keys WHERE id = ?",
                (key_id,),
            ).fetchone()
        expected = row[5] if row else _DUMMY
        same = hmac.compare_digest(_digest(key), expected)  # also when the id is unknown
        if not (match and row and same) or row[4] is not None:
            return None
        return ApiKey(*row[:5])
