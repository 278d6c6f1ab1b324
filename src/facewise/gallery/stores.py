"""The gallery store contract, and opening a store at a :class:`~facewise.location.Location`.

Two stores implement :class:`GalleryStore` and pass the same contract tests
(``tests/gallery/test_store.py``): :class:`~facewise.gallery.sqlite_store.SqliteStore` (the
embedded default; the gallery keeps an index cache beside it, built from :meth:`vectors`) and
:class:`~facewise.gallery.milvus.MilvusStore` (a Milvus server, or Milvus Lite), which is
also a :class:`SearchingStore`: it searches and builds templates itself, so the gallery never
loads every vector into memory. mypy checks both against these protocols
(``_check_protocols`` below).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from facewise.location import Location, parse_location

if TYPE_CHECKING:
    from facewise.gallery.records import Added, AuditEvent, NewSample, Person, SampleInfo
    from facewise.types import EmbeddingSpace

Ids = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]


@runtime_checkable
class GalleryStore(Protocol):
    """People, their samples (vector + consent + provenance) and the audit log. Every write is
    atomic and bumps :meth:`generation` when vectors change; times are ISO UTC strings."""

    @property
    def erasure_steps(self) -> tuple[str, ...]:
        """What :meth:`compact` overwrites or removes, for erasure receipts."""
        ...

    def close(self) -> None: ...
    def generation(self) -> int: ...
    def space(self) -> EmbeddingSpace | None: ...
    def check_space(self, space: EmbeddingSpace) -> None: ...
    def person(self, name: str) -> Person | None: ...
    def require(self, name: str) -> Person: ...
    def people(self) -> list[Person]: ...
    def names(self, ids: Iterable[int] | None = None) -> dict[int, str]: ...
    def rename(self, old: str, new: str, *, actor: str) -> Person: ...
    def merge(self, source: str, target: str, *, actor: str) -> Person: ...
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
    ) -> Added: ...
    def has_image(self, name: str, image_sha256: str) -> bool: ...
    def samples_of(self, name: str) -> list[SampleInfo]: ...
    def vectors(
        self, *, now: str | None = None, person: str | None = None
    ) -> tuple[Ids, Ids, Vectors, npt.NDArray[np.float32]]:
        """Live samples: (sample ids, person ids, vectors (N, D), qualities)."""
        ...

    def remove_person(
        self,
        name: str,
        *,
        actor: str,
        action: str = "remove",
        details: dict[str, Any] | None = None,
    ) -> list[int]: ...
    def purge_expired(self, *, actor: str, now: str | None = None) -> list[int]: ...
    def compact(self) -> None: ...
    def audit(
        self, actor: str, action: str, subject: str, details: dict[str, Any]
    ) -> AuditEvent: ...
    def events(self, *, since: int = 0, limit: int | None = None) -> list[AuditEvent]: ...


@runtime_checkable
class LocalStore(GalleryStore, Protocol):
    """A store whose vectors the gallery indexes itself (SQLite)."""

    def next_expiry(self, *, now: str) -> str | None:
        """The earliest expiry still ahead of ``now``, or None."""
        ...


@runtime_checkable
class SearchingStore(GalleryStore, Protocol):
    """A store that answers searches itself (Milvus): live samples only, filtered by ``now``."""

    def search(
        self, queries: Vectors, k: int, *, now: str | None = None
    ) -> tuple[Vectors, Ids, Ids]:
        """(scores, sample ids, person ids), each (Q, k); -1 ids and -inf scores pad."""
        ...

    def count(self, *, now: str | None = None) -> int: ...
    def templates(self, person_ids: list[int], *, now: str | None = None) -> dict[int, Vectors]:
        """Per person: the quality-weighted mean of their live sample vectors, L2-normalised."""
        ...


def open_store(location: Location | str | Path) -> GalleryStore:
    """The store at ``location`` (a :class:`Location`, or text that :func:`parse_location`
    reads: a folder, ``sqlite:///file``, ``milvus://host:port``, ``milvus-lite:///file.db``)."""
    loc = location if isinstance(location, Location) else parse_location(location)
    if loc.kind == "sqlite":
        from facewise.gallery.sqlite_store import SqliteStore

        assert loc.path is not None
        return SqliteStore(loc.path)
    from facewise.extras import require

    require("pymilvus")  # MissingExtra naming pip install 'facewise[milvus]', not an ImportError
    if loc.kind == "milvus-lite":
        require("milvus_lite")
    from facewise.gallery.milvus import MilvusStore

    return MilvusStore(loc.url)


if TYPE_CHECKING:  # mypy checks that each store implements its protocol
    from facewise.gallery.milvus import MilvusStore
    from facewise.gallery.sqlite_store import SqliteStore

    def _check_protocols(s: SqliteStore, m: MilvusStore) -> tuple[LocalStore, SearchingStore]:
        return s, m


__all__ = ["GalleryStore", "LocalStore", "SearchingStore", "open_store"]
