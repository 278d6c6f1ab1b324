"""Embed and cluster a collection with the photo work on a Ray cluster.

The workers scan each photo (every face: box, quality, vector, thumbnail;
:func:`facewise.cluster.scan.faces_of`) from its bytes; the driver adds the results to the
collection (a local file, written by the driver only) and clusters there. The kNN graph the
clustering starts from is built by :func:`sharded_knn`: the vectors are cut into shards of
``shard_rows``, each shard searched for every query batch (exact inner product: FAISS flat when
installed, numpy otherwise; as Ray tasks when connected) and the per-shard top-k merged, so no
node holds more than one shard's index; below ``shard_rows`` it is the plain
:func:`facewise.cluster.knn.knn`. The agglomeration itself runs on the driver from the graph.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.cluster.collection import AddReport, Collection
from facewise.cluster.knn import knn, knn_against
from facewise.cluster.scan import ScannedPhoto, faces_of
from facewise.errors import FacewiseError
from facewise.gallery.cluster_exec import DEFAULT_RESOURCES, Resources, map_photos
from facewise.gallery.cluster_jobs import connect_if

SHARD_ROWS = 2_000_000
"""Vectors per shard: 2M x 128 float32 is 1 GB of index per search task."""
QUERY_ROWS = 262_144
"""Queries per round of shard searches (the merge holds queries x shards x (k + 1) results)."""


def scan_task(
    settings: dict[str, Any], data: bytes, path: str, *, done: frozenset[str] = frozenset()
) -> ScannedPhoto | FacewiseError | None:
    """Every face of one photo, None when its sha256 is in ``done`` (runs in a worker)."""
    from facewise import io
    from facewise.gallery.batch import worker_engine

    try:
        if io.image_sha256(data) in done:
            return None
        return faces_of(worker_engine(settings), data)
    except FacewiseError as exc:
        return exc


def _shard_search(
    queries: npt.NDArray[np.float32],
    shard: npt.NDArray[np.float32],
    lo: int,
    k: int,
    exact_limit: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The ``k`` best rows of one shard (rows ``lo...`` of the whole) for each query."""
    idx, sim = knn_against(queries, shard, min(k, len(shard)), exact_limit=exact_limit)
    return idx + lo, sim


def sharded_knn(
    vectors: npt.NDArray[np.float32],
    k: int,
    *,
    exact_limit: int = 20_000,
    shard_rows: int = SHARD_ROWS,
    query_rows: int = QUERY_ROWS,
    resources: Resources = DEFAULT_RESOURCES,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each row's ``k`` most similar other rows and their inner products, best first (ties by
    index), as :func:`facewise.cluster.knn.knn`; searched shard by shard (Ray tasks when this
    process is connected to Ray) when there are more than ``shard_rows`` rows."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(v)
    if n <= shard_rows:
        return knn(v, k, exact_limit=exact_limit)
    k = min(k, n - 1)
    shards = [(lo, min(lo + shard_rows, n)) for lo in range(0, n, shard_rows)]
    search = _searcher(v, resources)
    idx = np.empty((n, k), dtype=np.int64)
    sim = np.empty((n, k), dtype=np.float32)
    for q0 in range(0, n, query_rows):
        q1 = min(q0 + query_rows, n)
        parts = search(q0, q1, shards, k + 1, exact_limit)
        got_idx = np.concatenate([p[0] for p in parts], axis=1)
        got_sim = np.concatenate([p[1] for p in parts], axis=1).astype(np.float32)
        own = got_idx == np.arange(q0, q1)[:, None]
        got_sim[own] = -np.inf
        got_idx[own] = n  # after every real index: sorts last among the -inf
        order = np.lexsort((got_idx, -got_sim), axis=1)[:, :k]
        idx[q0:q1] = np.take_along_axis(got_idx, order, axis=1)
        sim[q0:q1] = np.take_along_axis(got_sim, order, axis=1)
    return idx, sim


def _searcher(v: npt.NDArray[np.float32], resources: Resources) -> Any:
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():

        def local(
            q0: int, q1: int, shards: list[tuple[int, int]], k: int, limit: int
        ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
            return [_shard_search(v[q0:q1], v[lo:hi], lo, k, limit) for lo, hi in shards]

        return local
    held: dict[int, Any] = {}  # one object per shard: a task fetches its shard only
    remote = ray.remote(num_cpus=resources.num_cpus, memory=resources.memory)(_shard_search)

    def on_ray(
        q0: int, q1: int, shards: list[tuple[int, int]], k: int, limit: int
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        queries = ray.put(v[q0:q1])
        for lo, hi in shards:
            if lo not in held:
                held[lo] = ray.put(v[lo:hi])
        return list(ray.get([remote.remote(queries, held[lo], lo, k, limit) for lo, _ in shards]))

    return on_ray


def add_tree(
    coll: Collection,
    paths: Sequence[str],
    *,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    resources: Resources = DEFAULT_RESOURCES,
    shared_storage: bool = False,
    shard_rows: int = SHARD_ROWS,
) -> AddReport:
    """Scan ``paths`` (photos already in the collection, by sha256, are skipped in the
    workers) on the executor, add them, and place their faces (a first run clusters them from
    the :func:`sharded_knn` graph)."""
    known = frozenset(str(r[0]) for r in coll.records.rows("SELECT sha256 FROM photos"))
    task = functools.partial(scan_task, done=known)
    from facewise.gallery.batch import worker_settings

    settings = worker_settings(coll.engine)
    with connect_if(executor, address, workers):
        found = map_photos(
            task,
            list(paths),
            settings,
            executor=executor,
            workers=workers,
            address=address,
            resources=resources,
            shared_storage=shared_storage,
        )
        skipped = 0

        def fresh() -> Iterator[tuple[str, ScannedPhoto | FacewiseError]]:
            nonlocal skipped
            for path, photo in found:
                if photo is None:
                    skipped += 1
                else:
                    yield path, photo

        graph = functools.partial(sharded_knn, shard_rows=shard_rows, resources=resources)
        report = coll.add_scanned(fresh(), knn=graph)
    report.photos_known += skipped
    return report


__all__ = ["SHARD_ROWS", "add_tree", "scan_task", "sharded_knn"]
