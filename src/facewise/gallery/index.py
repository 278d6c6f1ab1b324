"""The gallery's vector index: a cache of the vectors in SQLite, rebuilt when missing or stale.

Vectors are float32, L2-normalised, of one embedding space (D = 128 for the dlib ResNet, 512 for
FaceNet); scores are inner products (= cosine similarity, in [-1, 1]); ids are the non-negative
int64 row ids of the samples in SQLite.

Two kinds:

- ``"exact"`` (:class:`ExactIndex`): one contiguous (N, D) float32 matrix; a search is a BLAS
  matrix product and a partial sort. Recall 1, no training, ~1.2 ms per query at 100k x 128 here.
- ``"ivf"`` (:class:`IVFIndex`): FAISS ``IndexIVFPQFastScan`` (inverted lists over a spherical
  k-means of ~4*sqrt(N) cells; 4-bit PQ codes of the residuals, scanned with SIMD) proposes
  candidates, which are re-scored exactly against the same float32 matrix that the exact index
  keeps. The scores returned are therefore exact inner products; only the candidate set is
  approximate. The FAISS labels are row numbers of that matrix. A query's cells are scanned in two
  interleaved halves, on the calling thread and on one helper thread (when it is free; otherwise
  one after the other, with the same result), each half proposing ``rerank / 2`` candidates.
  Memory: the float32 matrix + ~0.1x of it for codes, ids and lists.

Why not a plain ``IndexIVFFlat`` or HNSW (measured on face-like vectors fitted to real dlib
embeddings of LFW, 1M x 128, 2 cores, batch 1; ``benchmarks/identify_scale.py``): IVFFlat needs
~10% of the lists probed for recall@1 >= 0.99, which is 4-8 ms a query (a float32 scan is memory
bound); HNSW M=16 reached recall 0.94 at efSearch 256 already at 100k, and M=32 costs 1.53x the raw
vectors in memory. IVF-PQ fast-scan, one thread, exact re-rank of 1024 candidates: recall@1 0.985
at 1.5 ms (nprobe 570 of 4000); of 2048: 0.993 at 1.8 ms (nprobe 700). Split over two threads
(2 x 1024 candidates, nprobe 854): 0.996 at 1.5-1.65 ms; the same scan on one thread: 2.3-2.5 ms.
At 10M x 128 (nlist 12649, nprobe 1519: ~12% of the vectors scanned) 2 x 1024 candidates gave only
0.982, and more cells did not help (nprobe 2200: 0.981); 2 x 2048 gave 0.991, so the re-rank grows
with N above 1M (:func:`rerank_for`). There a query scans ~1.2M codes (~38 MB), several times the
1M figure: see the README for the latency measured.

Memory: a gallery's vectors need not be held twice while its index is built:
``build_index(copy=False)`` hands the caller's float32 matrix over (peak 1.16x the raw vectors
while building 10M x 128, with the 4-bit codes, ids and training sample).

The index file (:func:`save_index` / :func:`load_index`) carries a header with a magic string, the
format version, the SQLite generation and embedding-space key it was built from, and a sha256 of
the payload; a file that is missing, stale, truncated or corrupt loads as ``None`` and the caller
rebuilds the index from SQLite.

Thread safety: any number of threads may search at once; ``add`` and ``remove`` take an exclusive
lock (the caller serialises writes anyway).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput
from facewise.extras import missing, require
from facewise.lazy import Lazy

__all__ = [
    "EXACT_LIMIT",
    "RERANK",
    "ExactIndex",
    "IVFIndex",
    "VectorIndex",
    "build_index",
    "load_index",
    "rerank_for",
    "save_index",
]

log = logging.getLogger(__name__)

# "auto" builds an exact index below this many vectors, an IVF index from it on. Measured here
# (2 cores, numpy on OpenBLAS, D = 128, batch 1, top-5): the exact scan costs 0.10 ms at 10k,
# 0.60 ms at 50k, 1.2 ms at 100k, then 4.1 ms at 200k (the matrix no longer fits in cache) and
# 20-40 ms at 1M. At 100k the IVF index answers in ~0.75 ms at recall@1 0.999 after ~2 s of
# training; below 100k the exact scan is fast enough and has recall 1.
EXACT_LIMIT = 100_000

# Candidates that the IVF index re-scores exactly per query (half from each half of the cells).
# The 4-bit codes alone rank too coarsely on face vectors, which all lie in a narrow cone. At 1M x
# 128, one thread, nprobe 570 of 4000: 1024 -> recall@1 0.985 (1.5 ms), 2048 -> 0.990 (1.7 ms);
# two halves of nprobe 854: 2 x 512 -> 0.988 (1.5 ms), 2 x 1024 -> 0.996 (1.5-1.65 ms).
RERANK = 2048
# Above 1M vectors the re-rank grows as (N / 1M)**0.3 (4096 at 10M): the 4-bit codes must then
# place the true nearest neighbour among many more near-equal candidates. Measured at 10M x 128
# (nlist 12649, nprobe 1519, ~12% of the vectors scanned): 2 x 1024 -> recall@1 0.982, 2 x 2048
# -> 0.991; more cells did not help (nprobe 1000 / 2200 with 2 x 1024: 0.980 / 0.981).
_RERANK_FROM = 1_000_000
_RERANK_EXP = 0.3

_NLIST_PER_SQRT = 4.0  # cells = 4 * sqrt(N): 1M -> 4000 lists of ~250 vectors
_TRAIN_PER_LIST = 50  # k-means sample: 50 vectors a cell (200k at 1M; ~10 s to train here)
_KMEANS_ITER = 10
# nprobe = 27 * N**0.25 cells: the share of the gallery scanned for recall@1 >= 0.99 shrinks as it
# grows. Measured (1024 candidates): 100k: 20% of 1265 cells -> 0.995; 300k: 20% of 2191 -> 0.993;
# 1M (2 x 1024): 570 cells (14%) -> 0.990, 700 -> 0.993, 850 -> 0.996, 1000 -> 0.996.
# The rule gives 480 cells at 100k (38%), 632 at 300k (29%), 854 at 1M (21%).
_NPROBE_COEF = 27.0
_MIN_IVF = 1_000  # fewer vectors than this cannot train the cells and codes meaningfully
_GROWTH = 4.0  # needs_rebuild when the IVF index holds 4x more (or fewer) vectors than trained on
_NORM_TOL = 1e-3
_SCORE_BLOCK = 1 << 24  # floats of scores per exact-search block (64 MB)
_RERANK_BLOCK = 1 << 23  # floats of gathered candidates per re-rank block (32 MB)
_SPARE_BYTES = 1 << 28  # at most 256 MB of spare rows when the matrix grows

_MAGIC = b"FWVINDEX"
_FORMAT = 1
_MAX_HEADER = 1 << 16
_KINDS = ("exact", "ivf")

Ids = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]


@runtime_checkable
class VectorIndex(Protocol):
    """Top-k inner-product search over L2-normalised float32 vectors keyed by int64 ids."""

    kind: str
    dim: int

    def __len__(self) -> int: ...

    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add ``vectors`` (N, dim) float32, L2-normalised, under ``ids`` (N,) int64 >= 0, none of
        them already present."""
        ...

    def remove(self, ids: Ids) -> int:
        """Remove ``ids`` (N,) int64 (absent ids are ignored); returns how many were removed."""
        ...

    def search(self, queries: Vectors, k: int) -> tuple[Vectors, Ids]:
        """(Q, k) scores descending and (Q, k) ids; -1 ids and -inf scores pad when fewer than k
        vectors."""
        ...


def rerank_for(n: int) -> int:
    """Candidates an IVF index trained on ``n`` vectors re-scores exactly per query:
    :data:`RERANK` up to 1M, then ``RERANK * (n / 1M) ** 0.3`` rounded up to a multiple of 256."""
    if n <= _RERANK_FROM:
        return RERANK
    return int(math.ceil(RERANK * (n / _RERANK_FROM) ** _RERANK_EXP / 256) * 256)


# --- helpers --------------------------------------------------------------------------------------


class _RWLock:
    """Many readers or one writer; a waiting writer holds back new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def _faiss() -> Any:
    """FAISS, imported on first use: only the ivf index needs it (the [scale] extra)."""
    return require("faiss")  # MissingExtra naming pip install 'facewise[scale]' when absent


def faiss_available() -> bool:
    """Whether FAISS can be imported (found, without importing it)."""
    return not missing("scale")


def _write_threads(count: int) -> int:
    """OpenMP threads to add or remove ``count`` vectors: one for a few (a second thread's start
    and barrier cost more than they save, and much more when the other core is busy)."""
    return _build_threads() if count >= 4096 else 1


def _build_threads() -> int:
    """OpenMP threads for training and adding (at most 2). Searches set one OpenMP thread and
    split the scan over two Python threads instead: FAISS's own threads gave batch-1 searches no
    gain at 1M (p50 0.96 vs 0.96 ms, default implementation) and p99 outliers up to 4.7 ms."""
    return max(1, min(2, os.cpu_count() or 1))


# One helper thread for all IVF indexes: it scans the second half of a query's cells while the
# calling thread scans the first. When another search holds it, a search does both halves itself.
_HELPER: Lazy[ThreadPoolExecutor] = Lazy(
    lambda: ThreadPoolExecutor(1, thread_name_prefix="facewise-ivf")
)
_HELPER_FREE = threading.Lock()


def _inner(faiss: Any, rows: Vectors, query: Vectors) -> Vectors:
    """``rows`` (M, D) @ ``query`` (D,), both C-contiguous float32, on the calling thread only."""
    out = np.empty(len(rows), np.float32)
    faiss.fvec_inner_products_ny(faiss.swig_ptr(out), faiss.swig_ptr(query),
                                 faiss.swig_ptr(rows), rows.shape[1], len(rows))
    return out


def _check_ids(ids: Any) -> Ids:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise InvalidInput(f"ids must be a 1-D array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInput(f"ids must be integers, got {arr.dtype}")
    out = arr.astype(np.int64, copy=False)
    if out.size and out.min() < 0:
        raise InvalidInput("ids must be non-negative")
    return out


def _check_vectors(vectors: Any, dim: int, what: str) -> Vectors:
    arr = np.asarray(vectors)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InvalidInput(f"{what} must have shape (N, {dim}), got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.floating):
        raise InvalidInput(f"{what} must be floating point, got {arr.dtype}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if out.size:
        # row norms in blocks: np.linalg.norm(out, axis=1) would square the whole matrix into a
        # temporary as large as it (5 GB at 10M x 128)
        norms = np.empty(len(out), np.float64)
        step = max(1, _SCORE_BLOCK // out.shape[1])
        for s in range(0, len(out), step):
            block = out[s : s + step]
            norms[s : s + step] = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64))
        if not np.all(np.isfinite(norms)):
            raise InvalidInput(f"{what} contain NaN or infinite values")
        if np.any(np.abs(norms - 1.0) > _NORM_TOL):
            raise InvalidInput(f"{what} must be L2-normalised (norms in [{norms.min():.4g}, "
                               f"{norms.max():.4g}])")
    return out


def _check_pair(ids: Any, vectors: Any, dim: int) -> tuple[Ids, Vectors]:
    """Validated (ids, vectors) of equal length; empty ids pass without looking at vectors."""
    ids = _check_ids(ids)
    if not len(ids):
        return ids, np.zeros((0, dim), dtype=np.float32)
    vectors = _check_vectors(vectors, dim, "vectors")
    if len(vectors) != len(ids):
        raise InvalidInput(f"{len(ids)} ids for {len(vectors)} vectors")
    return ids, vectors


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInput(f"k must be a positive integer, got {k!r}")
    return int(k)


def _top_k(scores: Vectors, k: int) -> tuple[Vectors, npt.NDArray[np.intp]]:
    """Per row of ``scores`` (Q, M): the k best scores descending and their columns, padded with
    -inf / -1 when M < k."""
    q, m = scores.shape
    take = min(k, m)
    at = np.arange(q)[:, None]
    if take < m:
        cols = np.argpartition(scores, m - take, axis=1)[:, m - take :]
        cols = cols[at, np.argsort(-scores[at, cols], axis=1, kind="stable")]
    else:
        cols = np.argsort(-scores, axis=1, kind="stable")
    best = scores[at, cols]
    if take < k:
        best = np.concatenate([best, np.full((q, k - take), -np.inf, np.float32)], axis=1)
        cols = np.concatenate([cols, np.full((q, k - take), -1, np.intp)], axis=1)
    return best.astype(np.float32, copy=False), cols


class _Store:
    """The vectors as one contiguous float32 matrix: rows [0, n) are live, in no particular order;
    ``sorted_ids``/``sorted_rows`` map an id to its row. Removal moves the last rows into the holes
    and zeroes the freed tail, so a removed vector's bytes do not stay in memory or in a saved file.
    """

    def __init__(self, dim: int, ids: Ids, vectors: Vectors, *, copy: bool = True) -> None:
        self.dim = dim
        self.n = len(ids)
        # a copy by default: removal rewrites rows in place, which must not touch the caller's
        # array; copy=False takes the caller's arrays over (no second copy of a large gallery)
        how = True if copy else None
        self.vectors: Vectors = np.array(vectors, dtype=np.float32, order="C", copy=how)
        self.vectors = self.vectors.reshape(self.n, dim)
        self.row_ids: Ids = np.array(ids, dtype=np.int64, copy=how)
        order = np.argsort(self.row_ids, kind="stable")
        self.sorted_ids: Ids = self.row_ids[order]
        self.sorted_rows: Ids = order.astype(np.int64)
        if self.n > 1 and np.any(self.sorted_ids[1:] == self.sorted_ids[:-1]):
            raise InvalidInput("ids must be unique")

    @property
    def nbytes(self) -> int:
        return (self.vectors.nbytes + self.row_ids.nbytes + self.sorted_ids.nbytes
                + self.sorted_rows.nbytes)

    def live(self) -> tuple[Ids, Vectors]:
        return self.row_ids[: self.n], self.vectors[: self.n]

    def rows_of(self, ids: Ids) -> Ids:
        """The row of each id (any shape), -1 where absent."""
        if not self.n:
            return np.full(ids.shape, -1, np.int64)
        pos = np.searchsorted(self.sorted_ids, ids).clip(0, self.n - 1)
        found = self.sorted_ids[pos] == ids
        return np.where(found, self.sorted_rows[pos], -1)

    def check_new(self, ids: Ids) -> None:
        if len(ids) > 1 and len(np.unique(ids)) != len(ids):
            raise InvalidInput("ids must be unique")
        present = ids[self.rows_of(ids) >= 0]
        if len(present):
            raise InvalidInput(f"{len(present)} id(s) already in the index, e.g. {int(present[0])}")

    def add(self, ids: Ids, vectors: Vectors) -> None:
        m = len(ids)
        if self.n + m > len(self.vectors):
            # 25% spare rows, at most _SPARE_BYTES of them: growing copies the matrix (twice its
            # size in memory for a moment), and a 10M gallery should not keep 1.3 GB unused
            spare = min(len(self.vectors) // 4, _SPARE_BYTES // (4 * self.dim)) + 64
            cap = max(self.n + m, len(self.vectors) + spare)
            grown = np.zeros((cap, self.dim), np.float32)
            grown[: self.n] = self.vectors[: self.n]
            row_ids = np.full(cap, -1, np.int64)
            row_ids[: self.n] = self.row_ids[: self.n]
            self.vectors, self.row_ids = grown, row_ids
        rows = np.arange(self.n, self.n + m, dtype=np.int64)
        self.vectors[rows] = vectors
        self.row_ids[rows] = ids
        order = np.argsort(ids, kind="stable")
        pos = np.searchsorted(self.sorted_ids, ids[order])
        self.sorted_ids = np.insert(self.sorted_ids, pos, ids[order])
        self.sorted_rows = np.insert(self.sorted_rows, pos, rows[order])
        self.n += m

    def remove(self, ids: Ids) -> tuple[Ids, Ids, Ids, Ids]:
        """Remove the present ids among ``ids``. Returns (the ids removed, their rows, the rows
        that were filled, the rows whose vectors moved into them): ``movers[i]`` -> ``holes[i]``.
        """
        ids = np.unique(ids)
        rows = self.rows_of(ids)
        gone, rows = ids[rows >= 0], np.sort(rows[rows >= 0])
        if not len(gone):
            return gone, rows, rows, rows
        n_new = self.n - len(gone)
        holes = rows[rows < n_new]
        tail = np.arange(n_new, self.n, dtype=np.int64)
        movers = tail[~np.isin(tail, rows)]
        self.vectors[holes] = self.vectors[movers]
        moved_ids = self.row_ids[movers]
        self.row_ids[holes] = moved_ids
        self.sorted_rows[np.searchsorted(self.sorted_ids, moved_ids)] = holes
        at = np.searchsorted(self.sorted_ids, gone)
        self.sorted_ids = np.delete(self.sorted_ids, at)
        self.sorted_rows = np.delete(self.sorted_rows, at)
        self.vectors[n_new : self.n] = 0.0
        self.row_ids[n_new : self.n] = -1
        self.n = n_new
        return gone, rows, holes, movers


# --- the two kinds --------------------------------------------------------------------------------


class ExactIndex:
    """Exact search: ``queries @ matrix.T`` over one contiguous (N, dim) float32 matrix, then a
    partial sort. Recall 1 by construction."""

    kind = "exact"

    def __init__(self, dim: int, ids: Ids | None = None, vectors: Vectors | None = None, *,
                 copy: bool = True) -> None:
        if dim < 1:
            raise InvalidInput(f"dim must be positive, got {dim}")
        self.dim = dim
        ids = _check_ids(np.zeros(0, np.int64) if ids is None else ids)
        vectors = (np.zeros((0, dim), np.float32) if vectors is None or not len(ids)
                   else _check_vectors(vectors, dim, "vectors"))
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
        return len(self) > 2 * EXACT_LIMIT and faiss_available()

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
        return {}, [np.ascontiguousarray(ids).reshape(-1).data.cast("B"),
                    np.ascontiguousarray(matrix).reshape(-1).data.cast("B")]


class IVFIndex:
    """Approximate search: FAISS IVF-PQ fast-scan proposes :data:`RERANK` candidates a query, which
    are re-scored exactly against the float32 matrix (so returned scores are exact inner products).

    ``nprobe`` (cells scanned a query), ``rerank`` (candidates re-scored exactly, half from each
    half of the cells) and ``search_threads`` (2: scan the halves on two threads; 1: one after the
    other on the calling thread; same results) may be changed after construction.
    """

    kind = "ivf"

    def __init__(self, dim: int, faiss_index: Any, store: _Store, *, nprobe: int,
                 trained_for: int, rerank: int = RERANK) -> None:
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
    def train(cls, ids: Ids, vectors: Vectors, *, dim: int, seed: int = 0,
              copy: bool = True) -> IVFIndex:
        """Train cells and codes on a sample of ``vectors`` (N, dim) float32, then add them all.
        ``copy=False``: the index takes ``ids`` and ``vectors`` over when they are already int64
        and C-contiguous float32 (it will rewrite them on removal; the caller must not change them).
        """
        faiss = _faiss()
        n = len(ids)
        if n < _MIN_IVF:
            raise InvalidInput(f"an ivf index needs at least {_MIN_IVF} vectors to train, got {n}; "
                               "use the exact index")
        if dim % 2:
            raise InvalidInput(f"the ivf index needs an even dimension, got {dim}")
        nlist = max(1, min(round(_NLIST_PER_SQRT * math.sqrt(n)), n // 39))
        nprobe = math.ceil(_NPROBE_COEF * n**0.25)
        store = _Store(dim, ids, vectors, copy=copy)
        index = faiss.index_factory(dim, f"IVF{nlist},PQ{dim // 2}x4fsr",
                                    faiss.METRIC_INNER_PRODUCT)
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
        return (f"IVFIndex(dim={self.dim}, count={len(self)}, nlist={self.nlist}, "
                f"nprobe={self.nprobe}, rerank={self.rerank})")

    @property
    def needs_rebuild(self) -> bool:
        """True when the index holds 4x more (or 4x fewer) vectors than its cells were trained
        for: lists then grow long (slower) or the cells no longer fit the data (lower recall)."""
        n = len(self)
        return (self._damaged or n > _GROWTH * self.trained_for
                or n * _GROWTH < self.trained_for)

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
                    log.error("ivf index: FAISS removed %d codes for %d rows; rebuild the index",
                              removed, len(labels))
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
            ranked = (np.stack([_inner(faiss, self._centroids, q) for q in queries]) if few
                      else queries @ self._centroids.T)
            cells_dis, cols = _top_k(ranked, min(self.nprobe, self.nlist))
            cells = cols.astype(np.int64)
            halves = [(np.ascontiguousarray(cells[:, h::2]),
                       np.ascontiguousarray(cells_dis[:, h::2]))
                      for h in (0, 1) if cells.shape[1] > h]
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
                    exact = np.stack([_inner(faiss, g, q)
                                      for g, q in zip(gathered, queries[s : s + block],
                                                      strict=True)])
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
        self._faiss.search_preassigned_c(q, ptr(queries), depth, ptr(cells), ptr(cells_dis),
                                         ptr(dist), ptr(rows), False, params)
        return rows

    def _payload(self) -> tuple[dict[str, Any], list[memoryview]]:
        ids, matrix = self._store.live()
        blob = _faiss().serialize_index(self._faiss)
        params = {"nprobe": self.nprobe, "rerank": self.rerank, "trained_for": self.trained_for}
        return params, [np.ascontiguousarray(ids).data.cast("B"),
                        np.ascontiguousarray(matrix).data.cast("B"),
                        blob.data.cast("B")]


# --- building, saving, loading --------------------------------------------------------------------


def build_index(ids: Ids, vectors: Vectors, *, dim: int, kind: str = "auto",
                copy: bool = True) -> VectorIndex:
    """An index over ``vectors`` (N, dim) float32, L2-normalised, keyed by ``ids`` (N,) int64.

    ``kind``: ``"exact"``, ``"ivf"`` or ``"auto"`` (exact below :data:`EXACT_LIMIT` vectors, ivf
    from it on). Building an ivf index trains it (about a minute at 1M x 128 on 2 cores). The ivf
    index needs FAISS (``pip install 'facewise[scale]'``): without it ``"auto"`` stays exact with
    a logged warning, and ``"ivf"`` raises :class:`~facewise.extras.MissingExtra`.
    ``copy=False`` hands ``ids`` and ``vectors`` over to the index instead of copying them (when
    they are int64 and C-contiguous float32 already): the index then rewrites them on removal, and
    the caller must not change them. A gallery rebuilt from its database needs no second copy of
    its vectors that way (5 GB at 10M x 128).
    """
    ids = _check_ids(ids)
    if kind not in ("auto", *_KINDS):
        raise InvalidInput(f"unknown index kind {kind!r}; expected auto, exact or ivf")
    if not len(ids):
        vectors = np.zeros((0, dim), np.float32)
        if kind == "ivf":
            raise InvalidInput("an ivf index cannot be trained on an empty gallery")
    else:
        vectors = _check_vectors(vectors, dim, "vectors")
    if len(vectors) != len(ids):
        raise InvalidInput(f"{len(ids)} ids for {len(vectors)} vectors")
    if kind == "auto":
        kind = "exact" if len(ids) < EXACT_LIMIT else "ivf"
        if kind == "ivf" and not faiss_available():
            # Stay exact (recall 1, ~1.2 ms a query per 100k vectors): a gallery that grows past
            # the limit keeps working, only slower, rather than failing on its next search.
            log.warning("%d vectors: FAISS is not installed, so the gallery keeps an exact index "
                        "(slower above %d vectors); pip install 'facewise[scale]' for the ivf "
                        "index", len(ids), EXACT_LIMIT)
            kind = "exact"
    if kind == "exact":
        return ExactIndex(dim, ids, vectors, copy=copy)
    return IVFIndex.train(ids, vectors, dim=dim, copy=copy)


def save_index(index: VectorIndex, path: Path, *, generation: int, space_key: str) -> None:
    """Write ``index`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    Layout: the 8-byte magic ``FWVINDEX``, a little-endian uint32 header length, a UTF-8 JSON
    header (format, generation, space_key, dim, kind, count, parameters, section sizes,
    payload sha256), then the payload: ids (count,) int64 LE, vectors (count, dim) float32 LE and,
    for ivf, the FAISS index as ``faiss.serialize_index`` writes it.
    """
    if not isinstance(index, ExactIndex | IVFIndex):
        raise InvalidInput(f"cannot save a {type(index).__name__}")
    path = Path(path)
    with index._lock.read():
        params, sections = index._payload()
        digest = hashlib.sha256()
        for section in sections:
            digest.update(section)
        header = {
            "format": _FORMAT,
            "generation": int(generation),
            "space_key": str(space_key),
            "dim": index.dim,
            "kind": index.kind,
            "count": len(index),
            "params": params,
            "sections": [len(s) for s in sections],
            "payload_sha256": digest.hexdigest(),
        }
        head = json.dumps(header, sort_keys=True).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_MAGIC + len(head).to_bytes(4, "little") + head)
                for section in sections:
                    fh.write(section)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class _Reject(Exception):
    """Why an index file is not used."""


def load_index(path: Path, *, generation: int, space_key: str) -> VectorIndex | None:
    """The index saved at ``path``, or ``None`` (with a logged warning, never an exception) when
    the file is missing, stale (another generation or space_key), truncated or corrupt."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return _read(fh, generation=generation, space_key=space_key)
    except FileNotFoundError:
        log.warning("vector index %s is missing; it will be rebuilt", path)
    except _Reject as why:
        log.warning("vector index %s is %s; it will be rebuilt", path, why)
    except Exception as exc:  # a cache must never stop the gallery
        log.warning("vector index %s cannot be read (%s: %s); it will be rebuilt", path,
                    type(exc).__name__, exc)
    return None


def _read_exact(fh: io.BufferedReader, out: npt.NDArray[Any], digest: Any) -> None:
    view = out.reshape(-1).data.cast("B")  # a flat view (an empty (0, D) one cannot be cast)
    got = 0
    while got < len(view):
        n = fh.readinto(view[got:])
        if not n:
            raise _Reject(f"truncated ({got} of {len(view)} bytes of a section)")
        got += n
    digest.update(view)


def _read(fh: io.BufferedReader, *, generation: int, space_key: str) -> VectorIndex:
    if fh.read(len(_MAGIC)) != _MAGIC:
        raise _Reject("not a facewise vector index (bad magic)")
    size = int.from_bytes(fh.read(4), "little")
    if not 0 < size <= _MAX_HEADER:
        raise _Reject("corrupt (bad header length)")
    raw = fh.read(size)
    if len(raw) != size:
        raise _Reject("truncated (header)")
    try:
        head = json.loads(raw)
        fmt, gen, key = head["format"], head["generation"], head["space_key"]
        dim, kind, count = int(head["dim"]), head["kind"], int(head["count"])
        sections = [int(s) for s in head["sections"]]
        params, expected = head["params"], str(head["payload_sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _Reject(f"corrupt (header: {exc})") from exc
    if fmt != _FORMAT:
        raise _Reject(f"of format {fmt}, not {_FORMAT}")
    if gen != generation or key != space_key:
        raise _Reject(f"stale (generation {gen}, space {key}; the gallery is at generation "
                      f"{generation}, space {space_key})")
    if kind not in _KINDS or dim < 1 or count < 0:
        raise _Reject("corrupt (header values)")
    wanted = [count * 8, count * dim * 4]
    if sections[:2] != wanted or len(sections) != (2 if kind == "exact" else 3):
        raise _Reject("corrupt (section sizes do not match the count)")
    digest = hashlib.sha256()
    ids = np.empty(count, "<i8")
    vectors = np.empty((count, dim), "<f4")
    _read_exact(fh, ids, digest)
    _read_exact(fh, vectors, digest)
    blob = np.empty(sections[2] if kind == "ivf" else 0, np.uint8)
    _read_exact(fh, blob, digest)
    if fh.read(1):
        raise _Reject("corrupt (trailing bytes)")
    if digest.hexdigest() != expected:
        raise _Reject("corrupt (payload checksum mismatch)")
    ids, vectors = ids.astype(np.int64, copy=False), vectors.astype(np.float32, copy=False)
    store = _Store(dim, ids, vectors, copy=False)
    if kind == "exact":
        index = ExactIndex(dim)
        index._store = store
        return index
    faiss = _faiss()
    inner = faiss.deserialize_index(blob)
    if inner.d != dim or inner.ntotal != count:
        raise _Reject("corrupt (the FAISS index does not match the header)")
    return IVFIndex(dim, inner, store, nprobe=int(params["nprobe"]),
                    trained_for=int(params["trained_for"]), rerank=int(params["rerank"]))
