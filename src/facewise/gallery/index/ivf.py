"""The IVF index: FAISS IVF-PQ fast-scan proposes candidates, re-scored exactly."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from facewise.errors import InvalidInput
from facewise.gallery.index.base import (
    _GROWTH,
    _HELPER,
    _HELPER_FREE,
    _KMEANS_ITER,
    _MIN_IVF,
    _NLIST_PER_SQRT,
    _NPROBE_COEF,
    _RERANK_BLOCK,
    _TRAIN_PER_LIST,
    RERANK,
    Ids,
    Vectors,
    _build_threads,
    _check_ids,
    _check_k,
    _check_pair,
    _check_vectors,
    _faiss,
    _inner,
    _RWLock,
    _Store,
    _top_k,
    _write_threads,
    rerank_for,
)

log = logging.getLogger("facewise.gallery.index")


class IVFIndex:
    """Approximate search: FAISS IVF-PQ fast-scan proposes :data:`RERANK` candidates a query, which
    are re-scored exactly against the float32 matrix (so returned scores are exact inner products).

    ``nprobe`` (cells scanned a query), ``rerank`` (candidates re-scored exactly, half from each
    half of the cells) and ``search_threads`` (2: scan the halves on two threads; 1: one after the
    other on the calling thread; same results) may be changed after construction.
    """

    kind = "ivf"

    def __init__(
        self,
        dim: int,
        faiss_index: Any,
        store: _Store,
        *,
        nprobe: int,
        trained_for: int,
        rerank: int = RERANK,
    ) -> None:
        self.dim = dim
        self._faiss = faiss_index
        self._store = store
        self._lock = _RWLock()
        self.nlist = int(_faiss().extract_index_ivf(faiss_index).nlist)
        self.nprobe = max(1, min(int(nprobe), self.nlist))
        self.rerank = int(rerank)
        self.trained_for = int(trained_for)
        self.search_threads = 2 if _build_threads() > 1 else 1
        self._damaged = False
        # the cell centroids (nlist, dim) float32: a numpy product ranks them in 0.04 ms at 4000
        # cells, where FAISS's flat quantizer took 0.2 ms for one query
        ivf = _faiss().extract_index_ivf(faiss_index)
        self._centroids: Vectors = ivf.quantizer.reconstruct_n(0, self.nlist)

    @classmethod
    def train(
        cls, ids: Ids, vectors: Vectors, *, dim: int, seed: int = 0, copy: bool = True
    ) -> IVFIndex:
        """Train cells and codes on a sample of ``vectors`` (N, dim) float32, then add them all.
        ``copy=False``: the index takes ``ids`` and ``vectors`` over when they are already int64
        and C-contiguous float32 (it will rewrite them on removal; the caller must not change them).
        """
        faiss = _faiss()
        n = len(ids)
        if n < _MIN_IVF:
            raise InvalidInput(
                f"an ivf index needs at least {_MIN_IVF} vectors to train, got {n}; "
                "use the exact index"
            )
        if dim % 2:
            raise InvalidInput(f"the ivf index needs an even dimension, got {dim}")
        nlist = max(1, min(round(_NLIST_PER_SQRT * math.sqrt(n)), n // 39))
        nprobe = math.ceil(_NPROBE_COEF * n**0.25)
        store = _Store(dim, ids, vectors, copy=copy)
        index = faiss.index_factory(
            dim, f"IVF{nlist},PQ{dim // 2}x4fsr", faiss.METRIC_INNER_PRODUCT
        )
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.spherical = True
        ivf.cp.niter = _KMEANS_ITER
        ivf.cp.seed = 1234 + seed
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, _TRAIN_PER_LIST * nlist), replace=False))
        # a second OpenMP thread pays off on big trainings only; on small ones its barriers cost
        # more, and far more when another process holds the other core
        faiss.omp_set_num_threads(_build_threads() if len(sample) * nlist >= 20_000_000 else 1)
        index.train(store.vectors[sample])
        faiss.omp_set_num_threads(_write_threads(n))
        index.add_with_ids(store.vectors[: store.n], np.arange(store.n, dtype=np.int64))
        return cls(dim, index, store, nprobe=nprobe, trained_for=n, rerank=rerank_for(n))

    def __len__(self) -> int:
        return self._store.n

    def __repr__(self) -> str:
        return (
            f"IVFIndex(dim={self.dim}, count={len(self)}, nlist={self.nlist}, "
            f"nprobe={self.nprobe}, rerank={self.rerank})"
        )

    @property
    def needs_rebuild(self) -> bool:
        """True when the index holds 4x more (or 4x fewer) vectors than its cells were trained
        for: lists then grow long (slower) or the cells no longer fit the data (lower recall)."""
        n = len(self)
        return self._damaged or n > _GROWTH * self.trained_for or n * _GROWTH < self.trained_for

    @property
    def nbytes(self) -> int:
        """Bytes held: the float32 matrix and id arrays, plus the FAISS index (cells, codebooks,
        4-bit codes and ids of the inverted lists) as serialised."""
        with self._lock.read():
            return self._store.nbytes + int(_faiss().serialize_index(self._faiss).nbytes)

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids, vectors = _check_pair(ids, vectors, self.dim)
        if not len(ids):
            return
        with self._lock.write():
            self._store.check_new(ids)
            _faiss().omp_set_num_threads(_write_threads(len(ids)))
            n = self._store.n
            self._faiss.add_with_ids(vectors, np.arange(n, n + len(ids), dtype=np.int64))
            self._store.add(ids, vectors)

    def remove(self, ids: Ids) -> int:
        ids = _check_ids(ids)
        with self._lock.write():
            gone, rows, holes, movers = self._store.remove(ids)
            if len(gone):
                # FAISS labels are rows: drop the removed rows and the moved ones, then add the
                # moved vectors again under their new rows (their codes come out the same)
                _faiss().omp_set_num_threads(_write_threads(len(gone)))
                labels = np.union1d(rows, movers)
                removed = int(self._faiss.remove_ids(labels))
                if len(holes):
                    self._faiss.add_with_ids(self._store.vectors[holes], holes)
                if removed != len(labels):  # pragma: no cover - faiss-cpu < 1.14 removed none
                    self._damaged = True
                    log.error(
                        "ivf index: FAISS removed %d codes for %d rows; rebuild the index",
                        removed,
                        len(labels),
                    )
            return len(gone)

    def search(self, queries: Vectors, k: int) -> tuple[Vectors, Ids]:
        """``queries`` (Q, dim) float32, L2-normalised -> scores (Q, k) float32 descending (exact
        inner products of the candidates) and ids (Q, k) int64; -1 ids and -inf scores pad when
        fewer than k vectors (or, rarely, when the scanned cells hold fewer than k)."""
        faiss = _faiss()
        k = _check_k(k)
        queries = _check_vectors(queries, self.dim, "queries")
        scores = np.full((len(queries), k), -np.inf, np.float32)
        out_ids = np.full((len(queries), k), -1, np.int64)
        with self._lock.read():
            n = self._store.n
            if not n or not len(queries):
                return scores, out_ids
            depth = min(max(self.rerank // 2, k), n)
            faiss.omp_set_num_threads(1)  # per calling thread
            # a few queries: FAISS's one-thread kernel; numpy's BLAS would wake its own threads,
            # which then spin against the helper thread (2.5 ms instead of 1.7 ms at 1M)
            few = len(queries) < 16
            ranked = (
                np.stack([_inner(faiss, self._centroids, q) for q in queries])
                if few
                else queries @ self._centroids.T
            )
            cells_dis, cols = _top_k(ranked, min(self.nprobe, self.nlist))
            cells = cols.astype(np.int64)
            halves = [
                (np.ascontiguousarray(cells[:, h::2]), np.ascontiguousarray(cells_dis[:, h::2]))
                for h in (0, 1)
                if cells.shape[1] > h
            ]
            if len(halves) == 2 and self.search_threads > 1 and _HELPER_FREE.acquire(False):
                try:
                    later = _HELPER.get().submit(self._scan, queries, *halves[1], depth)
                    found = [self._scan(queries, *halves[0], depth), later.result()]
                finally:
                    _HELPER_FREE.release()
            else:
                found = [self._scan(queries, *half, depth) for half in halves]
            cand = np.concatenate(found, axis=1)  # (Q, <= 2 depth) rows, -1 pads; no duplicates
            cand[cand >= n] = -1  # never a row past the live ones
            block = max(1, _RERANK_BLOCK // (cand.shape[1] * self.dim))
            for s in range(0, len(queries), block):
                rows = cand[s : s + block]
                gathered = np.take(self._store.vectors, rows.clip(0), axis=0)  # (b, depth, dim)
                if few:
                    exact = np.stack(
                        [
                            _inner(faiss, g, q)
                            for g, q in zip(gathered, queries[s : s + block], strict=True)
                        ]
                    )
                else:
                    exact = np.matmul(gathered, queries[s : s + block, :, None])[:, :, 0]
                exact[rows < 0] = -np.inf
                best, cols = _top_k(exact, k)
                picked = self._store.row_ids[rows[np.arange(len(rows))[:, None], cols]]
                scores[s : s + block] = best
                out_ids[s : s + block] = np.where(np.isfinite(best), picked, -1)
        return scores, out_ids

    def _scan(self, queries: Vectors, cells: Ids, cells_dis: Vectors, depth: int) -> Ids:
        """Candidate rows (Q, depth), -1 padded, from the cells (Q, m) int64 of each query, whose
        inner products with the query are ``cells_dis`` (Q, m) float32."""
        faiss = _faiss()
        faiss.omp_set_num_threads(1)
        params = faiss.SearchParametersIVF()
        params.nprobe = cells.shape[1]
        q = len(queries)
        dist = np.empty((q, depth), np.float32)
        rows = np.empty((q, depth), np.int64)
        ptr = faiss.swig_ptr
        self._faiss.search_preassigned_c(
            q, ptr(queries), depth, ptr(cells), ptr(cells_dis), ptr(dist), ptr(rows), False, params
        )
        return rows

    def _payload(self) -> tuple[dict[str, Any], list[memoryview]]:
        ids, matrix = self._store.live()
        blob = _faiss().serialize_index(self._faiss)
        params = {"nprobe": self.nprobe, "rerank": self.rerank, "trained_for": self.trained_for}
        return params, [
            np.ascontiguousarray(ids).data.cast("B"),
            np.ascontiguousarray(matrix).data.cast("B"),
            blob.data.cast("B"),
        ]
