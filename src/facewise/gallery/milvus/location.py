"""What a Milvus gallery URL means to pymilvus: the uri to connect to, the token, the
collection-name prefix, the vector index, the read consistency and, for Milvus Lite, the
database directory.

The URL itself is parsed and validated once, by :func:`facewise.location.parse_location` (the
same parser that ``open_store`` and the settings use); this module only reads the parts of the
:class:`~facewise.location.Location` it returns and checks the Milvus options' values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from facewise.errors import ConfigError, InvalidInput
from facewise.gallery.milvus.schema import INDEXES
from facewise.location import parse_location

LEVELS = ("Strong", "Session", "Bounded")


@dataclass(frozen=True, slots=True)
class Target:
    """A Milvus gallery to connect to: ``uri`` and ``token`` for ``pymilvus.MilvusClient``,
    ``prefix`` of its collections, the ``index_type`` asked for (an existing gallery's wins),
    the ``consistency`` of reads, and ``lite_path`` (the Milvus Lite database directory, or
    None for a server)."""

    uri: str
    token: str
    prefix: str
    index_type: str
    consistency: str
    lite_path: Path | None


def resolve(url: str) -> Target:
    """The :class:`Target` of a ``milvus://`` or ``milvus-lite:///`` URL. Raises
    :class:`InvalidInput` for a URL or option it cannot be, or a Lite path that is not a
    facewise gallery; creates the Lite database's parent folder."""
    try:
        loc = parse_location(url)
    except ConfigError as exc:
        raise InvalidInput(exc.message) from None
    if loc.kind == "milvus-lite":
        assert loc.path is not None
        lite_path: Path | None = _lite_path(loc.path)
        uri, token, query = str(lite_path), "", loc.url.partition("?")[2]
    elif loc.kind == "milvus":
        lite_path = None
        parts = urlsplit(loc.url)  # normalised by parse_location: host and port are there
        token = ""
        if parts.username:
            token = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        uri, query = f"http://{host}:{parts.port}", parts.query
    else:
        raise InvalidInput(
            f"{url!r} is not a Milvus URL (milvus://host:port or milvus-lite:///path/file.db)"
        )
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    prefix = params.get("gallery", "facewise")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", prefix):
        raise InvalidInput(f"gallery={prefix!r}: letters, digits and _ only")
    index_type = params.get("index", "HNSW").upper()
    level = params.get("consistency", "").capitalize()
    if level not in ("", *LEVELS):
        raise InvalidInput(f"consistency={level!r}: use Strong, Session or Bounded")
    # Reads on Milvus Lite are Strong (free there). On a server a Strong read waits for the
    # next time tick (~200 ms); Session reads see every write made by this process at once
    # (pymilvus keeps the last write's timestamp per collection, process-wide) and another
    # process's writes within about a time tick.
    level = level or ("Strong" if lite_path is not None else "Session")
    if index_type not in INDEXES:
        raise InvalidInput(f"index={index_type!r}: use one of {sorted(INDEXES)}")
    return Target(uri, token, prefix, index_type, level, lite_path)


def _lite_path(given: Path) -> Path:
    """The absolute Milvus Lite database directory, refused unless it is absent, empty or a
    Milvus Lite database; its parent folder is created."""
    path = given.absolute()
    if path.exists() and not path.is_dir():
        raise InvalidInput(
            f"{path} is not a facewise gallery (a Milvus Lite database is a directory)"
        )
    if path.is_dir() and any(path.iterdir()) and not (path / "LOCK").exists():
        raise InvalidInput(f"{path} is not a facewise gallery (not a Milvus Lite database)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


__all__ = ["Target", "resolve"]
