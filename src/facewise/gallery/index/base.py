"""The vector index's common parts: the protocol, the tuning rules and limits (measured; see the
package docstring), input checks, the many-readers lock, and the float32 matrix both kinds keep."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput
from facewise.extras import missing, require
from facewise.lazy import Lazy

log = logging.getLogger("facewise.gallery.index")

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
    faiss.fvec_inner_products_ny(
        faiss.swig_ptr(out), faiss.swig_ptr(query), faiss.swig_ptr(rows), rows.shape[1], len(rows)
    )
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
            raise InvalidInput(
                f"{what} must be L2-normalised (norms in [{norms.min():.4g}, {norms.max():.4g}])"
            )
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
        return (
            self.vectors.nbytes
            + self.row_ids.nbytes
            + self.sorted_ids.nbytes
            + self.sorted_rows.nbytes
        )

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
