"""1:N identification on a real Milvus server at 1M face-like vectors, through facewise's
MilvusStore.

The server is the Milvus 2.3.5 standalone binary from the ``milvus`` wheel (``make milvus-server``
installs it in ``.milvus-server/``), started here on a free loopback port with a temporary base
directory, exactly as the tests start it (tests/milvus_server.py), and stopped at the end.

The vectors are the face-like ones of benchmarks/identify_scale.py (imported: its generative model
fitted to real LFW embeddings, 128-D), ``--per-identity`` samples a person. The gallery is made by
:class:`~facewise.gallery.milvus.MilvusStore` (its schema, its scalar indexes, its first
enrolment); the bulk of the rows then go in through pymilvus ``insert`` straight into that same
``samples`` collection (and ``people``), with the store's id counters moved past them, because
``add_samples`` reads back and audits each enrolment (~0.5 s each on a server: days at 1M).

For each vector index (``--indexes``, the same inserted data): the index is built (drop and create
on the sealed segments), the server is restarted on the same data so that its memory holds this
index only, the collection loaded, then: build time, load time, the server's resident memory
against the raw float32 vectors, batch-1 top-5 latency of ``MilvusStore.search`` (the expiry
filter included; p50 / p99 over ``--queries`` probes) and of a bare pymilvus search without the
filter, recall@1 against exact search (numpy), and the latency of ``MilvusStore.templates`` for
each probe's top-5 people (what the gallery's ranking reads).

    flock /tmp/facewise-heavy.lock nice -n 5 .venv/bin/python benchmarks/identify_milvus.py \\
        [--n 1000000] [--indexes IVF_SQ8,IVF_FLAT,HNSW] [--queries 1000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import ROOT, machine, write_result
from identify_scale import exact_top1, face_model, generate

sys.path.insert(0, str(ROOT / "tests"))  # tests/milvus_server.py starts the server
from facewise.gallery.milvus import MilvusStore
from facewise.gallery.milvus.schema import INDEXES as _INDEXES
from facewise.gallery.records import NewSample
from facewise.types import EmbeddingSpace
from milvus_server import MilvusServer, unavailable

SPACE = EmbeddingSpace("synthetic-face-like", "0" * 64, 128, "cosine", "none", False)
NOW = "2026-01-01T00:00:00Z"
BATCH = 10_000


def _mb(x: float) -> float:
    return float(x) / 2**20


def wait_index(client: Any, name: str, rows: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    index = client.list_indexes(name, field_name="vector")[0]
    info: dict[str, Any] = {}
    while time.monotonic() < deadline:
        info = client.describe_index(name, index)
        if int(info.get("indexed_rows", 0)) >= rows and str(info.get("state")) in (
            "Finished",
            "3",
            "IndexState.Finished",
        ):
            return
        time.sleep(1.0)
    raise TimeoutError(f"index on {name} not built within {timeout:.0f} s: {info}")


def latencies(fn: Any, queries: np.ndarray) -> np.ndarray:
    for q in queries[:20]:
        fn(q)
    out = np.empty(len(queries))
    for i, q in enumerate(queries):
        t = time.perf_counter()
        fn(q)
        out[i] = time.perf_counter() - t
    return out * 1e3


def fill(store: MilvusStore, gallery: np.ndarray, owner: np.ndarray) -> dict[str, float]:
    """Insert every vector but the first (enrolled through the store) into the store's own
    collections, then flush so that all of them sit in sealed segments."""
    client = store._client
    samples, people = store._name("samples"), store._name("people")
    n, n_people = len(gallery), int(owner.max()) + 1
    t0 = time.perf_counter()
    for start in range(1, n_people, BATCH):  # person 0 = id 1 exists (the store's enrolment)
        stop = min(n_people, start + BATCH)
        client.insert(
            people,
            [
                {"id": i + 1, "name": f"p{i}", "created_at": NOW, "pad": [0.0, 0.0]}
                for i in range(start, stop)
            ],
        )
    t_people = time.perf_counter() - t0
    t0 = time.perf_counter()
    for start in range(1, n, BATCH):
        stop = min(n, start + BATCH)
        vectors = gallery[start:stop].tolist()
        client.insert(
            samples,
            [
                {
                    "id": i + 1,
                    "vector": vectors[i - start],
                    "person_id": int(owner[i]) + 1,
                    "quality": 0.9,
                    "image_sha256": f"{i:064x}",
                    "source": f"s{i}.jpg",
                    "consent": "benchmark",
                    "enrolled_at": NOW,
                    "enrolled_by": "bench",
                    "expires_at": "",
                    "bbox": "[0, 0, 1, 1]",
                }
                for i in range(start, stop)
            ],
        )
        if start // BATCH % 10 == 0:
            print(f"  inserted {stop:,} / {n:,} ({time.perf_counter() - t0:.0f} s)", flush=True)
    t_insert = time.perf_counter() - t0
    store._set_meta("next_sample", str(n + 1))
    store._set_meta("next_person", str(n_people + 1))
    t0 = time.perf_counter()
    for what in ("samples", "people", "meta"):
        client.flush(store._name(what))
    return {
        "people_insert_s": t_people,
        "insert_s": t_insert,
        "insert_per_s": (n - 1) / t_insert,
        "flush_s": time.perf_counter() - t0,
    }


def measure(
    index: str,
    gallery: np.ndarray,
    owner: np.ndarray,
    probes: np.ndarray,
    truth: np.ndarray,
    tmp: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """A fresh server holding only this index: enrol, insert, flush, wait for the index to be
    built on every sealed segment, reload the collection, measure."""
    t0 = time.perf_counter()
    server = MilvusServer(tmp / index)
    start_s = time.perf_counter() - t0
    try:
        url = server.url + "?gallery=bench"
        store = MilvusStore(f"{url}&index={index}")
        store.add_samples(
            "p0",
            SPACE,
            [NewSample(gallery[0], f"{0:064x}", "s0.jpg", 0.9, (0, 0, 1, 1))],
            consent="benchmark",
            enrolled_by="bench",
            expires_at=None,
        )
        filled = fill(store, gallery, owner)
        client, samples = store._client, store._name("samples")
        n = len(gallery)
        t0 = time.perf_counter()
        wait_index(client, samples, n, args.build_timeout)
        build_s = time.perf_counter() - t0
        client.release_collection(samples)
        store.close()
        t0 = time.perf_counter()
        store = MilvusStore(url, timeout=600.0)  # loads every collection, the index with it
        load_s = time.perf_counter() - t0
        assert store.index_type == index, (store.index_type, index)
        time.sleep(3)
        rss = server.rss_bytes()
        count = store.count(now=NOW)
        assert count == n, (count, n)

        lat = latencies(lambda q: store.search(q[None, :], 5, now=NOW), probes)
        found = np.concatenate(
            [
                store.search(probes[i : i + 100], 1, now=NOW)[1][:, 0]
                for i in range(0, len(probes), 100)
            ]
        )
        recall = float(np.mean(found == truth + 1))  # sample id = row + 1

        search_params: dict[str, Any] = {"metric_type": "IP"}
        if index == "HNSW":
            search_params["params"] = {"ef": 128}
        elif index.startswith("IVF"):
            search_params["params"] = {"nprobe": 64}
        bare = latencies(lambda q: client_search(store, q, search_params), probes)
        tops = [store.search(q[None, :], 5, now=NOW)[2][0] for q in probes[: args.template_queries]]
        tmpl = latencies_list(lambda people: store.templates(people.tolist(), now=NOW), tops)
        rss_after = server.rss_bytes()
        store.close()
    finally:
        server.stop()
        shutil.rmtree(tmp / index, ignore_errors=True)
    raw = gallery.nbytes
    insert_s = filled["people_insert_s"] + filled["insert_s"] + filled["flush_s"]
    row = {
        "index": index,
        "params": _INDEXES[index],
        "search_params": search_params.get("params"),
        "server_start_s": start_s,
        **filled,
        "index_wait_after_flush_s": build_s,
        "insert_flush_build_s": insert_s + build_s,
        "load_s": load_s,
        "rss_after_load_mb": _mb(rss),
        "rss_after_queries_mb": _mb(rss_after),
        "raw_f32_mb": _mb(raw),
        "rss_ratio": max(rss, rss_after) / raw,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "bare_p50_ms": float(np.percentile(bare, 50)),
        "bare_p99_ms": float(np.percentile(bare, 99)),
        "recall_at_1": recall,
        "templates_p50_ms": float(np.percentile(tmpl, 50)),
        "templates_p99_ms": float(np.percentile(tmpl, 99)),
    }
    print(f"{index}: {row}", flush=True)
    return row


def client_search(store: MilvusStore, q: np.ndarray, params: dict[str, Any]) -> Any:
    return store._client.search(
        store._name("samples"),
        data=[q.tolist()],
        limit=5,
        anns_field="vector",
        search_params=params,
        consistency_level="Session",
    )


def latencies_list(fn: Any, items: list[Any]) -> np.ndarray:
    for item in items[:5]:
        fn(item)
    out = np.empty(len(items))
    for i, item in enumerate(items):
        t = time.perf_counter()
        fn(item)
        out[i] = time.perf_counter() - t
    return out * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=lambda x: int(float(x)), default=1_000_000)
    parser.add_argument("--per-identity", type=int, default=2)
    parser.add_argument("--indexes", default="IVF_SQ8,IVF_FLAT,HNSW")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--template-queries", type=int, default=200)
    parser.add_argument("--build-timeout", type=float, default=3600.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base", default=None, help="server base dir (default: a temporary one)")
    args = parser.parse_args()
    why = unavailable()
    if why:
        sys.exit(f"no Milvus server: {why}")
    indexes = [x.strip().upper() for x in args.indexes.split(",") if x.strip()]

    t0 = time.perf_counter()
    gallery, owner, probes, _ = generate(
        face_model(), args.n, args.per_identity, args.queries, seed=args.seed
    )
    truth = exact_top1(gallery, probes)
    print(
        f"generated {args.n:,} face-like vectors and exact truth in "
        f"{time.perf_counter() - t0:.0f} s",
        flush=True,
    )

    tmp = Path(args.base) if args.base else Path(tempfile.mkdtemp(prefix="facewise-milvus-"))
    tmp.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    try:
        for index in indexes:
            rows.append(measure(index, gallery, owner, probes, truth, tmp, args))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    head = (
        "| index (build params; search params) | insert + flush s (vectors/s) | index built "
        "after flush s | insert + flush + build s | load s | server RSS MB (x raw f32) | "
        "p50 / p99 ms, MilvusStore.search top-5 | p50 / p99 ms, bare pymilvus | recall@1 | "
        "templates(top-5 people) p50 / p99 ms |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        lines.append(
            f"| {r['index']} ({r['params']}; {r['search_params']}) | "
            f"{r['people_insert_s'] + r['insert_s'] + r['flush_s']:.0f} "
            f"({r['insert_per_s']:,.0f}) | {r['index_wait_after_flush_s']:.0f} | "
            f"{r['insert_flush_build_s']:.0f} | {r['load_s']:.1f} | "
            f"{max(r['rss_after_load_mb'], r['rss_after_queries_mb']):,.0f} "
            f"({r['rss_ratio']:.2f}x) | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | "
            f"{r['bare_p50_ms']:.2f} / {r['bare_p99_ms']:.2f} | {r['recall_at_1']:.3f} | "
            f"{r['templates_p50_ms']:.1f} / {r['templates_p99_ms']:.1f} |"
        )
    starts = ", ".join(f"{r['server_start_s']:.1f}" for r in rows)
    md = "\n".join(
        [
            f"# 1:N on a Milvus 2.3.5 standalone server, {args.n:,} face-like 128-D vectors "
            f"({machine()['date']})",
            "",
            f"One fresh server per index (started in {starts} s), the same vectors inserted "
            f"through pymilvus into MilvusStore's own collections ({BATCH:,} rows a call), "
            f"{args.per_identity} samples a person; raw float32 {_mb(gallery.nbytes):,.0f} MB. "
            f"Batch-1 latencies over {args.queries} probes (MilvusStore.search includes its expiry "
            f"filter; bare = pymilvus search without a filter), recall@1 against exact numpy "
            f"search; {machine()['cpus']} CPUs shared with other work.",
            "",
            *lines,
        ]
    )
    print(md)
    data = {"machine": machine(), "args": vars(args), "rows": rows}
    print(f"wrote {write_result('identify_milvus', md, data)}")


if __name__ == "__main__":
    main()
