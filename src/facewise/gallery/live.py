"""The gallery's live view for searching: the in-memory index of the samples that have not
expired (a local vector index over the store's vectors, or a Milvus store seen as one), person
templates, and the gallery's shape (samples per person -> people), which sets the open-set
threshold. :class:`LiveIndex` keeps it current: rebuilt when the store's generation moves on
(another writer) or a sample expires, updated in place for this process's own enrolments."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.gallery.index import VectorIndex, build_index, load_index, save_index
from facewise.gallery.records import utc_now
from facewise.gallery.stores import GalleryStore, LocalStore, SearchingStore


class StoreSearch:
    """A store that searches and builds templates itself (Milvus), seen as an index by the
    gallery: expired samples are left out at query time, by the store's own filter."""

    kind = "store"

    def __init__(self, store: Any, size: int, dim: int) -> None:
        self.store, self.size, self.dim = store, size, dim

    def __len__(self) -> int:
        return self.size

    def add(self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        self.size += len(ids)

    def remove(self, ids: npt.NDArray[np.int64]) -> int:
        self.size -= len(ids)
        return len(ids)

    def search(
        self, queries: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        scores, ids, _ = self.search_owners(queries, k)
        return scores, ids

    def search_owners(
        self, queries: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(scores, sample ids, person ids), each (Q, k); -1 ids pad."""
        found: tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64]] = (
            self.store.search(queries, k, now=utc_now())
        )
        return found

    def templates(self, people: list[int]) -> dict[int, npt.NDArray[np.float32]]:
        """Mean templates of ``people`` from their live samples, read from the store."""
        templates: dict[int, npt.NDArray[np.float32]] = self.store.templates(people, now=utc_now())
        return templates


def gallery_shape(counts: Any) -> dict[int, int]:
    """Samples per person -> number of people with that many."""
    out: dict[int, int] = {}
    for n in counts:
        if n > 0:
            out[int(n)] = out.get(int(n), 0) + 1
    return out


def mean_templates(
    owners: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    quality: npt.NDArray[np.float32],
) -> dict[int, npt.NDArray[np.float32]]:
    """Per person: the quality-weighted mean of their sample vectors, L2-normalised."""
    if not len(owners):
        return {}
    order = np.argsort(owners, kind="stable")
    owners, vectors, quality = owners[order], vectors[order], quality[order]
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    sums = np.add.reduceat(vectors * quality[:, None], starts, axis=0)
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return {int(owners[s]): sums[i].astype(np.float32) for i, s in enumerate(starts)}


@dataclass(frozen=True, slots=True, eq=False)
class View:
    """One consistent state of the live index (replaced, never changed, when it moves on)."""

    index: VectorIndex
    owners: dict[int, int] = field(default_factory=dict)
    """Sample id -> person id (a local index; empty for a store that searches itself)."""
    templates: dict[int, npt.NDArray[np.float32]] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    """Person id -> live samples."""
    shape: dict[int, int] = field(default_factory=dict)
    """Samples per person -> people."""


class LiveIndex:
    """The current :class:`View` of a store. ``index_path``: the local cache file (None for a
    store that searches itself). ``lock``: the gallery's, so a view never changes half-way
    through a write."""

    def __init__(
        self, store: GalleryStore, index_path: Path | None, *, dim: int, lock: threading.RLock
    ) -> None:
        self.store, self.index_path, self.dim, self._lock = store, index_path, dim, lock
        self._view: View | None = None
        self._generation = -1
        self._next_expiry: str | None = None  # the view is stale from this time on
        self._dirty = False  # the cache file lags behind this process's own enrolments

    def current(self) -> View:
        """The view of the live samples, reloaded from the cache file or rebuilt from the store
        when the store changed or a sample expired since it was built."""
        with self._lock:
            generation = self.store.generation()
            now = utc_now()
            if (
                self._view is not None
                and generation == self._generation
                and (self._next_expiry is None or now < self._next_expiry)
            ):
                return self._view
            store = self.store
            if isinstance(store, SearchingStore):  # Milvus searches and builds templates itself
                counts = {p.id: p.samples for p in store.people()}
                self._view = View(
                    StoreSearch(store, store.count(now=now), self.dim),
                    counts=counts,
                    shape=gallery_shape(counts.values()),
                )
                self._generation, self._next_expiry, self._dirty = generation, None, False
                return self._view
            assert isinstance(store, LocalStore) and self.index_path is not None
            ids, owners, vectors, quality = store.vectors(now=now)
            key = self._space_key()
            index = load_index(self.index_path, generation=generation, space_key=key)
            if index is None or len(index) != len(ids):  # a sample expired: fewer live ids
                dim = vectors.shape[1] if vectors.size else self.dim
                index = build_index(ids, vectors, dim=dim, copy=False)  # fresh arrays
                save_index(index, self.index_path, generation=generation, space_key=key)
            self._view = _local_view(
                index,
                dict(zip(ids.tolist(), owners.tolist(), strict=True)),
                mean_templates(owners, vectors, quality),
            )
            self._next_expiry = store.next_expiry(now=now)
            self._generation, self._dirty = generation, False
            return self._view

    def added(
        self,
        person: str,
        ids: npt.NDArray[np.int64],
        vectors: npt.NDArray[np.float32],
        *,
        owner: int | None,
        before: int,
    ) -> None:
        """This process's own enrolment of ``ids`` for ``person`` (stored at generation
        ``before`` + 1): applied to a local index in place instead of a rebuild (the cache file
        is rewritten by :meth:`save`). If the view is older than ``before``, or the person
        ``owner`` is no longer called ``person`` (renamed by another writer meanwhile; a rename
        leaves the generation as it is), the view is dropped and rebuilt on next use."""
        with self._lock:
            view = self._view
            if view is None or self.index_path is None or self._generation != before:
                return
            if owner is None:
                found = self.store.person(person)
                owner = found.id if found is not None else None
            if owner is None or self.store.names([owner]).get(owner) != person:
                self._view = None
                return
            view.index.add(ids, vectors)
            _, owners, vecs, quality = self.store.vectors(person=person)
            self._view = _local_view(
                view.index,
                {**view.owners, **dict.fromkeys(ids.tolist(), owner)},
                {**view.templates, **mean_templates(owners, vecs, quality)},
            )
            self._generation, self._dirty = before + 1, True

    def rebuild(self) -> int:
        """Drop the view and the cache file and rebuild them; the number of live samples."""
        with self._lock:
            if self.index_path is not None:
                self.index_path.unlink(missing_ok=True)
            self._view = None
            return len(self.current().index)

    def save(self) -> None:
        """Write the cache file if this process's enrolments made it lag behind."""
        with self._lock:
            if self._dirty and self._view is not None and self.index_path is not None:
                save_index(
                    self._view.index,
                    self.index_path,
                    generation=self._generation,
                    space_key=self._space_key(),
                )
                self._dirty = False

    def _space_key(self) -> str:
        space = self.store.space()
        if space is None:
            return "none"
        return hashlib.sha256(json.dumps(space.as_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _local_view(
    index: VectorIndex, owners: dict[int, int], templates: dict[int, npt.NDArray[np.float32]]
) -> View:
    pids, n = np.unique(np.fromiter(owners.values(), dtype=np.int64), return_counts=True)
    counts = dict(zip(pids.tolist(), n.tolist(), strict=True))
    return View(index, owners, templates, counts, gallery_shape(n.tolist()))


def best_people(
    index: Any,
    owners: dict[int, int],
    templates: dict[int, npt.NDArray[np.float32]],
    queries: npt.NDArray[np.float32],
    *,
    top: int,
    template: str,
) -> list[dict[int, float]]:
    """Per query (Q, D): person id -> score, for the people among the index's nearest samples
    (4 x ``top`` of them, at least 32): the best of their samples, or, with the ``mean``
    template, the query's cosine to their template. ``owners`` maps sample ids to people
    (a local index; a :class:`StoreSearch` returns them with the hits and reads templates
    itself); people without a template (their samples expired meanwhile) are left out."""
    depth = min(len(index), max(4 * top, 32))
    if isinstance(index, StoreSearch):
        scores, _, hit_owners = index.search_owners(queries, depth)
    else:
        scores, ids = index.search(queries, depth)
        hit_owners = np.array(
            [[owners.get(i, -1) for i in row] for row in ids.tolist()], dtype=np.int64
        ).reshape(ids.shape)
    best_rows: list[dict[int, float]] = []
    for row_scores, row_owners in zip(scores.tolist(), hit_owners.tolist(), strict=True):
        best: dict[int, float] = {}
        for sc, pid in zip(row_scores, row_owners, strict=True):
            if pid >= 0:
                best[pid] = max(best.get(pid, -2.0), sc)
        best_rows.append(best)
    if template == "mean" or isinstance(index, StoreSearch):
        if isinstance(index, StoreSearch):
            templates = index.templates(sorted({pid for b in best_rows for pid in b}))
        for q, best in zip(queries, best_rows, strict=True):
            for pid in list(best):
                if pid not in templates:
                    del best[pid]
                elif template == "mean":
                    best[pid] = float(q @ templates[pid])
    return best_rows


__all__ = ["LiveIndex", "StoreSearch", "View", "best_people", "gallery_shape", "mean_templates"]
