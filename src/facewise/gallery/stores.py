"""Choosing the gallery store by URL: ``sqlite:///path/gallery.sqlite`` (the embedded default),
``milvus://host:port`` (a Milvus server) or ``milvus-lite:///path/file.db`` (Milvus Lite, the same
client API, used by the tests). A plain path is a SQLite gallery directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facewise.errors import InvalidInput


def open_store(location: str | Path) -> Any:
    text = str(location)
    if text.startswith("sqlite:///"):
        from facewise.gallery.sqlite_store import SqliteStore

        return SqliteStore(Path(text[len("sqlite:///") :]))
    if text.startswith(("milvus://", "milvus-lite:///")):
        from facewise.gallery.milvus_store import MilvusStore

        return MilvusStore(text)
    if "://" in text:
        raise InvalidInput(
            f"unknown gallery URL {text!r}: use sqlite:///, milvus:// or milvus-lite:///"
        )
    from facewise.gallery.sqlite_store import SqliteStore

    return SqliteStore(Path(text) / "gallery.sqlite")
