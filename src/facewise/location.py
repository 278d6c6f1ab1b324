"""Where a gallery lives, parsed in one place.

The ``gallery`` setting (``FACEWISE_GALLERY``) is one of

* empty (the default): the SQLite gallery in ``FACEWISE_HOME`` (``gallery.sqlite`` and the index
  cache ``index.bin`` beside it);
* a folder path: the same, in that folder;
* ``sqlite:///path/to/file.sqlite`` (``sqlite:////abs/path`` for an absolute path): one SQLite
  database file, its index cache beside it as ``file.sqlite.index``;
* ``milvus://[user:password@]host:port`` (port 19530 when left out; options ``?gallery=NAME``
  for the collections' prefix, ``index=HNSW|IVF_FLAT|...``, ``consistency=Strong|...``): a
  Milvus server or cluster (the store searches and builds templates itself; no local files);
* ``milvus-lite:///path/file.db``: Milvus Lite, the same client API in one local file.

Anything else that looks like a URL (``milvus:``, ``http://``, a port out of range) is a
:class:`~facewise.errors.ConfigError` before anything is created; a server that does not answer
is :class:`~facewise.errors.GalleryUnavailable` when the gallery is opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from facewise.errors import ConfigError

Kind = Literal["sqlite", "milvus", "milvus-lite"]
MILVUS_PORT = 19530
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_QUERY_KEYS = {"gallery", "index", "consistency"}


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed gallery location. ``url`` is what the store opens; ``path`` the local database
    file (SQLite, Milvus Lite); ``index_path`` the local index cache (SQLite only)."""

    kind: Kind
    url: str
    path: Path | None = None
    index_path: Path | None = None

    @property
    def local(self) -> bool:
        """Whether the gallery is in local files (SQLite: the index cache lives beside it)."""
        return self.kind == "sqlite"

    def __str__(self) -> str:
        """The URL without credentials (for messages and logs)."""
        return redact(self.url)


def looks_like_url(text: str) -> bool:
    """``scheme:`` at the start (one letter would be a Windows drive, not a scheme)."""
    return bool(_SCHEME.match(text)) and not re.match(r"^[A-Za-z]:[\\/]", text)


def parse_location(text: str | Path, *, home: Path | None = None) -> Location:
    """The :class:`Location` of a ``gallery`` setting; empty means the SQLite gallery in
    ``home``. Raises :class:`ConfigError` for anything it cannot be."""
    raw = str(text).strip()
    if not raw:
        if home is None:
            raise ConfigError("no gallery location: set gallery (FACEWISE_GALLERY) or home")
        return _folder(home)
    if not looks_like_url(raw):
        return _folder(Path(raw))
    scheme = raw.split(":", 1)[0].lower()
    shown = redact(raw)
    if scheme == "sqlite":
        if not raw.startswith("sqlite:///") or len(raw) == len("sqlite:///"):
            raise ConfigError(
                f"gallery {shown!r}: write sqlite:///relative/file.sqlite or "
                "sqlite:////absolute/file.sqlite"
            )
        path = Path(raw[len("sqlite:///") :])
        if path.is_dir():
            raise ConfigError(
                f"gallery {shown!r} is a folder; give the database file, or the "
                "folder itself without sqlite:///"
            )
        return Location("sqlite", f"sqlite:///{path}", path, path.with_name(path.name + ".index"))
    if scheme == "milvus-lite":
        if not raw.startswith("milvus-lite:///"):
            raise ConfigError(f"gallery {shown!r}: write milvus-lite:///path/file.db")
        rest, _, query = raw[len("milvus-lite:///") :].partition("?")
        if not rest.endswith(".db"):
            raise ConfigError(f"gallery {shown!r}: a Milvus Lite database path must end in .db")
        _check_query(raw, query)
        return Location("milvus-lite", raw, Path(rest))
    if scheme == "milvus":
        parts = urlsplit(raw)
        if not raw.lower().startswith("milvus://") or not parts.hostname:
            raise ConfigError(f"gallery {shown!r}: write milvus://host:port (a Milvus server)")
        try:
            port = parts.port or MILVUS_PORT
        except ValueError:
            raise ConfigError(f"gallery {shown!r}: the port must be a number 1-65535") from None
        if not 0 < port < 65536:
            raise ConfigError(f"gallery {shown!r}: the port must be a number 1-65535")
        if parts.path not in ("", "/"):
            raise ConfigError(f"gallery {shown!r}: no path after host:port (use ?gallery=NAME)")
        _check_query(raw, parts.query)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        user = raw[len("milvus://") :].rpartition("@")[0] + "@" if parts.username else ""
        query = f"?{parts.query}" if parts.query else ""
        return Location("milvus", f"milvus://{user}{host}:{port}{query}")
    raise ConfigError(
        f"unknown gallery location {shown!r}: use a folder, sqlite:///file, "
        "milvus://host:port or milvus-lite:///file.db"
    )


def _folder(folder: Path) -> Location:
    if looks_like_url(str(folder)):
        raise ConfigError(
            f"home {str(folder)!r} looks like a URL; FACEWISE_HOME is a folder. Put a gallery "
            "URL in the gallery setting (FACEWISE_GALLERY=milvus://host:port)"
        )
    db = folder / "gallery.sqlite"
    return Location("sqlite", f"sqlite:///{db}", db, folder / "index.bin")


def _check_query(raw: str, query: str) -> None:
    shown = redact(raw)
    for key, _ in parse_qsl(query, keep_blank_values=True):
        if key not in _QUERY_KEYS:
            raise ConfigError(
                f"gallery {shown!r}: unknown option {key!r} "
                f"(known: {', '.join(sorted(_QUERY_KEYS))})"
            )


def redact(raw: str) -> str:
    """The location without credentials, for messages."""
    return re.sub(r"//[^/@]*@", "//***@", raw)


__all__ = ["MILVUS_PORT", "Location", "looks_like_url", "parse_location", "redact"]
