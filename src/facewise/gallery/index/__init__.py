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

from facewise.gallery.index.base import (
    EXACT_LIMIT,
    RERANK,
    VectorIndex,
    faiss_available,
    rerank_for,
)
from facewise.gallery.index.exact import ExactIndex
from facewise.gallery.index.files import build_index, load_index, save_index
from facewise.gallery.index.ivf import IVFIndex

__all__ = [
    "EXACT_LIMIT",
    "RERANK",
    "ExactIndex",
    "IVFIndex",
    "VectorIndex",
    "build_index",
    "faiss_available",
    "load_index",
    "rerank_for",
    "save_index",
]
