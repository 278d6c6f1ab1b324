"""The exact index: one float32 matrix, a BLAS product and a partial sort per query."""

from __future__ import annotations

from typing import Any

import numpy as np

from facewise.errors import InvalidInput
from facewise.gallery.index import base
from facewise.gallery.index.base import (
    _SCORE_BLOCK,
    Ids,
    Vectors,
    _check_ids,
    _check_k,
    _check_pair,
    _check_vectors,
    _RWLock,
    _Store,
    _top_k,
    faiss_available,
)


class ExactIndex:
    """Exact search: ``queries @ matrix.T`` over one contiguous (N, dim) float32 matrix, then a
    partial sort. Recall 1 by construction."""

    kind = "exact"

    def __init__(
        self, dim: int, ids: Ids | None = None, vectors: Vectors | None = None, *, copy: bool = True
    ) -> None:
        if dim < 1:
            raise InvalidInput(f"dim must be positive, got {dim}")
        self.dim = dim
        ids = _check_ids(np.zeros(0, np.int64) if ids is None else ids)
        vectors = (
            np.zeros((0, dim), np.float32)
            if vectors is None or not len(ids)
            else _check_vectors(vectors, dim, "vectors")
        )
        if len(vectors) != len(ids):
            raise InvalidInput(f"{len(ids)} ids for {len(vectors)} vectors")
        self._store = _Store(dim, ids, vectors, copy=copy)
        self._lock = _RWLock()

    def __len__(self) -> int:
        return self._store.n

    def __repr__(self) -> str:
        return f"ExactIndex(dim={self.dim}, count={len(self)})"

    @property
    def needs_rebuild(self) -> bool:
        """True when the gallery has grown so far past :data:`EXACT_LIMIT` (2x) that an IVF index
        would answer several times faster; the caller may then ``build_index(kind="auto")``.
        Never without FAISS: the index would be exact again."""
        return len(self) > 2 * base.EXACT_LIMIT and faiss_available()

    @property
    def nbytes(self) -> int:
        """Bytes held: the float32 matrix (with its spare rows) and the id arrays."""
        return self._store.nbytes

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids, vectors = _check_pair(ids, vectors, self.dim)
        if not len(ids):
            return
        with self._lock.write():
            self._store.check_new(ids)
            self._store.add(ids, vectors)

    def remove(self, ids: Ids) -> int:
        ids = _check_ids(ids)
        with self._lock.write():
            return len(self._store.remove(ids)[0])

    def search(self, queries: Vectors, k: int) -> tuple[Vectors, Ids]:
        """``queries`` (Q, dim) float32, L2-normalised -> scores (Q, k) float32 descending (inner
        products) and ids (Q, k) int64; -1 ids and -inf scores pad when fewer than k vectors."""
        k = _check_k(k)
        queries = _check_vectors(queries, self.dim, "queries")
        scores = np.full((len(queries), k), -np.inf, np.float32)
        out_ids = np.full((len(queries), k), -1, np.int64)
        with self._lock.read():
            ids, matrix = self._store.live()
            if not len(ids):
                return scores, out_ids
            block = max(1, _SCORE_BLOCK // len(ids))
            for s in range(0, len(queries), block):
                best, cols = _top_k(queries[s : s + block] @ matrix.T, k)
                scores[s : s + block] = best
                out_ids[s : s + block] = np.where(cols >= 0, ids[cols.clip(0)], -1)
        return scores, out_ids

    def _payload(self) -> tuple[dict[str, Any], list[memoryview]]:
        ids, matrix = self._store.live()
        # flattened: a memoryview of an empty (0, D) matrix cannot be cast to bytes
        return {}, [
            np.ascontiguousarray(ids).reshape(-1).data.cast("B"),
            np.ascontiguousarray(matrix).reshape(-1).data.cast("B"),
        ]
