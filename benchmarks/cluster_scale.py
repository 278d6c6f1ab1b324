"""Clustering at collection scale: 100k faces from embeddings to clusters, and extending it.

The collection: every real LFW dev face (default pipeline, 6,153) plus face-like vectors from
identify_scale's generative model (fitted to those LFW embeddings): half of the synthetic faces are
people with 10 photos each, half people seen once. It is written to a temporary .npy; a fresh
process loads it and runs ``cluster_vectors`` (so its peak RSS is the clustering's, from the
loaded embeddings to the labels), then ``extend`` with 1,000 new faces (500 fresh photos of people
already in the collection, 500 new people seen once) into the clustered collection. Both report
wall time and peak RSS (VmHWM), and BCubed against the generator's identities.

    python benchmarks/cluster_scale.py [--faces 100000] [--new 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from cluster_lfw import default_fmr, load_lfw
from common import machine, write_result
from identify_scale import face_model, generate, memory_mb, reset_peak


def build(faces: int, new: int, workers: int) -> dict[str, np.ndarray]:
    real, who = load_lfw(workers)
    _, people = np.unique(who, return_inverse=True)
    model = face_model(workers)
    synthetic = faces - len(real)
    many = synthetic // 2
    g10, o10, probes, p_owner = generate(model, many, 10, new // 2, seed=1)
    g1, o1, _, _ = generate(model, synthetic - many, 1, 0, seed=2)
    s1, _, _, _ = generate(model, new - new // 2, 1, 0, seed=3)
    base = people.max() + 1
    vectors = np.concatenate([real, g10, g1])
    truth = np.concatenate([people, base + o10, base + o10.max() + 1 + o1])
    fresh = np.concatenate([probes, s1])
    top = truth.max() + 1
    fresh_truth = np.concatenate([base + p_owner, top + np.arange(len(s1))])
    return {"vectors": vectors, "truth": truth, "new": fresh, "new_truth": fresh_truth}


def worker(folder: Path) -> None:
    from facewise.cluster.algorithm import cluster_vectors, extend
    from facewise.cluster.metrics import score

    fmr = default_fmr()
    vectors = np.load(folder / "vectors.npy")
    truth = np.load(folder / "truth.npy")
    new = np.load(folder / "new.npy")
    new_truth = np.load(folder / "new_truth.npy")
    reset_peak()
    before, _ = memory_mb()
    t0 = time.perf_counter()
    labels = cluster_vectors(vectors, fmr=fmr)
    t1 = time.perf_counter()
    _, peak = memory_mb()
    reset_peak()
    t2 = time.perf_counter()
    both = extend(vectors, labels, new, fmr=fmr)
    t3 = time.perf_counter()
    _, peak_extend = memory_mb()
    old_kept = bool(np.array_equal(both[: len(labels)][labels >= 0], labels[labels >= 0]))
    out = {
        "faces": len(vectors),
        "new_faces": len(new),
        "rss_mb_with_vectors_loaded": round(before, 1),
        "cluster_seconds": round(t1 - t0, 2),
        "cluster_peak_rss_mb": round(peak, 1),
        "extend_seconds": round(t3 - t2, 2),
        "extend_peak_rss_mb": round(peak_extend, 1),
        "old_labels_kept": old_kept,
        "score": score(labels, truth.tolist()).as_dict(),
        "score_after_extend": score(both, np.concatenate([truth, new_truth]).tolist()).as_dict(),
    }
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    data = build(args.faces, args.new, args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        for name, array in data.items():
            np.save(Path(tmp) / f"{name}.npy", array)
        done = subprocess.run(
            [sys.executable, __file__, "--worker", tmp],
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    info = machine()
    s, e = result["score"], result["score_after_extend"]
    markdown = "\n".join(
        [
            "# cluster_scale",
            "",
            f"{result['faces']} faces (6,153 real LFW dev + face-like synthetic: half people with "
            f"10 photos, half seen once), ClusterParams() defaults; {info}.",
            "",
            "| step | seconds | peak RSS MB | BCubed F (P / R) |",
            "|---|---|---|---|",
            f"| cluster_vectors({result['faces']}) | {result['cluster_seconds']} | "
            f"{result['cluster_peak_rss_mb']} | {s['bcubed_f']:.4f} ({s['bcubed_precision']:.4f}"
            f" / {s['bcubed_recall']:.4f}) |",
            f"| extend(+{result['new_faces']}) | {result['extend_seconds']} | "
            f"{result['extend_peak_rss_mb']} | {e['bcubed_f']:.4f} ({e['bcubed_precision']:.4f}"
            f" / {e['bcubed_recall']:.4f}) |",
            "",
            f"Resident with the vectors loaded, before clustering: "
            f"{result['rss_mb_with_vectors_loaded']} MB. Old clustered labels kept by extend: "
            f"{result['old_labels_kept']}.",
        ]
    )
    print(markdown)
    print("written", write_result("cluster_scale", markdown, {"machine": info, **result}))


if __name__ == "__main__":
    main()
