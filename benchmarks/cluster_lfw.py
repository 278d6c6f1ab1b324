"""Clustering a photo collection by person: facewise.cluster against tuned baselines.

Protocol. LFW grayscale dev (6,155 photos; identity = folder; a photo with no face found is left
out) is split into two halves of identities by a stable hash of the name (sha256, first byte
parity). Every baseline's parameters are chosen by grid search on half A (best BCubed F) and
scored on half B: the **strict** table, where facewise.cluster runs with its defaults
(ClusterParams(); its two knobs were chosen on half A, its threshold comes from the calibration's
non-mated model). Then all of LFW dev with the half-A parameters (favours the baselines: half A is
half of what is scored), and ORL, Yale and NUAA (colour webcam frames, subject = identity: live
frames only, and live + spoof, a spoof being a printed photo of the same subject) with the
baselines at their half-A parameters. Finally one pass against two halves (cluster_vectors on a
random half of the faces, extend with the rest).

Baselines: average-linkage agglomerative clustering (scikit-learn, cosine distance), DBSCAN
(cosine), HDBSCAN (scikit-learn, euclidean on the L2-normalised vectors) and Chinese whispers
(dlib.chinese_whispers_clustering, euclidean threshold). A cluster of one counts as unclustered.
(HDBSCAN's cluster_selection_epsilon > 0 raises a TypeError inside scikit-learn's tree code on
these inputs, so its grid is min_cluster_size x min_samples x eom/leaf selection.)

Caveat: the calibration that sets facewise's threshold (models/thresholds.json, non-mated model)
was itself fitted on LFW dev non-mated pairs (all of it): the FMR curve, not the clustering.

    python benchmarks/cluster_lfw.py [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from common import DEFAULT, LFW, SHARED, embed_all, machine, write_result
from facewise.cluster.algorithm import ClusterParams, cluster_vectors, extend
from facewise.cluster.metrics import score

Labels = np.ndarray
Method = Callable[[np.ndarray, dict[str, Any]], Labels]

IDENTITY = SHARED / "datasets" / "identity"
NUAA = SHARED / "datasets" / "antispoof" / "nuaa_raw_test_subset"


def default_fmr() -> Callable[[np.ndarray], np.ndarray]:
    from facewise import Engine, calibration, load_settings

    model = calibration.nonmated_model(Engine(load_settings()).space)
    table = model.table("mean", 1)
    return lambda s: table.fmr(s)


def _usable(vectors: np.ndarray, who: list[str]) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(vectors).all(axis=1) & (np.abs(vectors).sum(axis=1) > 0)
    v = vectors[ok].astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v, np.asarray(who)[ok]


def load_lfw(workers: int) -> tuple[np.ndarray, np.ndarray]:
    with (LFW / "manifest.csv").open(newline="") as fh:
        paths = [r["path"] for r in csv.DictReader(fh)]
    vectors = embed_all(DEFAULT, [str(LFW / p) for p in paths], workers=workers, tag="_manifest")
    return _usable(vectors, [Path(p).parent.name for p in paths])


def load_manifest(
    root: Path, column: str, workers: int, tag: str, keep: Callable[[dict[str, str]], bool]
) -> tuple[np.ndarray, np.ndarray]:
    with (root / "manifest.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if keep(r)]
    paths = [str(root / r["path"]) for r in rows]
    vectors = embed_all(DEFAULT, paths, workers=workers, tag=tag)
    return _usable(vectors, [r[column] for r in rows])


def half_of(name: str) -> int:
    return hashlib.sha256(name.encode()).digest()[0] % 2


# --- the methods -------------------------------------------------------------------------------


def average_linkage(v: np.ndarray, p: dict[str, Any]) -> Labels:
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=p["distance"]
    )
    return np.asarray(model.fit_predict(v), dtype=np.int64)


def dbscan(v: np.ndarray, p: dict[str, Any]) -> Labels:
    from sklearn.cluster import DBSCAN

    model = DBSCAN(eps=p["eps"], min_samples=p["min_samples"], metric="cosine")
    return np.asarray(model.fit_predict(v), dtype=np.int64)


def hdbscan(v: np.ndarray, p: dict[str, Any]) -> Labels:
    from sklearn.cluster import HDBSCAN

    model = HDBSCAN(
        min_cluster_size=p["min_cluster_size"],
        min_samples=p["min_samples"],
        cluster_selection_method=p["selection"],
        copy=True,
    )
    return np.asarray(model.fit_predict(v.astype(np.float64)), dtype=np.int64)


def chinese_whispers(v: np.ndarray, p: dict[str, Any]) -> Labels:
    import dlib

    points = [dlib.vector(row.astype(np.float64).tolist()) for row in v]
    return np.asarray(dlib.chinese_whispers_clustering(points, p["threshold"]), dtype=np.int64)


GRIDS: dict[str, tuple[Method, list[dict[str, Any]]]] = {
    "average linkage (sklearn, cosine)": (
        average_linkage,
        [{"distance": round(float(d), 3)} for d in np.arange(0.03, 0.1201, 0.005)],
    ),
    "DBSCAN (sklearn, cosine)": (
        dbscan,
        [
            {"eps": round(float(e), 3), "min_samples": m}
            for m in (2, 3)
            for e in np.arange(0.03, 0.1201, 0.01)
        ],
    ),
    "HDBSCAN (sklearn)": (
        hdbscan,
        [
            {"min_cluster_size": c, "min_samples": s, "selection": e}
            for c, s, e in itertools.product((2, 3, 5), (1, 2, 3), ("eom", "leaf"))
        ],
    ),
    "Chinese whispers (dlib)": (
        chinese_whispers,
        [{"threshold": round(float(t), 3)} for t in np.arange(0.24, 0.4601, 0.02)],
    ),
}
OURS = "facewise.cluster (defaults)"


def ours(fmr: Callable[[np.ndarray], np.ndarray]) -> Method:
    return lambda v, _p: cluster_vectors(v, fmr=fmr, params=ClusterParams())


def row(method: str, params: dict[str, Any], labels: Labels, who: np.ndarray, s: float) -> Any:
    sc = score(labels, list(who))
    return {"method": method, "params": params, "seconds": round(s, 2), **sc.as_dict()}


def run(v: np.ndarray, who: np.ndarray, method: str, fn: Method, p: dict[str, Any]) -> Any:
    t0 = time.perf_counter()
    labels = fn(v, p)
    return row(method, p, labels, who, time.perf_counter() - t0)


def table(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        "| method | params | BCubed F | P | R | pairwise F | NMI | clusters | unclustered | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['method']} | {r['params'] or ''} | **{r['bcubed_f']:.4f}** | "
            f"{r['bcubed_precision']:.4f} | {r['bcubed_recall']:.4f} | {r['pairwise_f']:.4f} | "
            f"{r['nmi']:.4f} | {r['clusters']} | {r['unclustered']} | {r['seconds']} |"
        )
    return out


def halves(v: np.ndarray, who: np.ndarray, fmr: Callable[[np.ndarray], np.ndarray]) -> Any:
    order = np.random.default_rng(0).permutation(len(v))
    first, second = order[: len(v) // 2], order[len(v) // 2 :]
    t0 = time.perf_counter()
    one = cluster_vectors(v, fmr=fmr)
    t1 = time.perf_counter()
    start = cluster_vectors(v[first], fmr=fmr)
    t2 = time.perf_counter()
    both = extend(v[first], start, v[second], fmr=fmr)
    t3 = time.perf_counter()
    truth = np.concatenate([who[first], who[second]])
    s_one, s_two = score(one, list(who)), score(both, list(truth))
    return {
        "one_pass": s_one.as_dict(),
        "two_halves": s_two.as_dict(),
        "difference_bcubed_f": s_two.bcubed_f - s_one.bcubed_f,
        "seconds": {
            "one_pass": round(t1 - t0, 2),
            "first_half": round(t2 - t1, 2),
            "extend": round(t3 - t2, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    fmr = ours_fmr = default_fmr()
    v, who = load_lfw(args.workers)
    part = np.array([half_of(w) for w in who])
    va, wa, vb, wb = v[part == 0], who[part == 0], v[part == 1], who[part == 1]
    print(f"LFW: {len(v)} faces, half A {len(va)}, half B {len(vb)}", flush=True)

    tuning: dict[str, list[dict[str, Any]]] = {}
    chosen: dict[str, dict[str, Any]] = {}
    for name, (fn, grid) in GRIDS.items():
        tuning[name] = [run(va, wa, name, fn, p) for p in grid]
        best = max(tuning[name], key=lambda r: r["bcubed_f"])
        chosen[name] = best["params"]
        print(f"{name}: best on half A {best['bcubed_f']:.4f} at {best['params']}", flush=True)
    methods: dict[str, Method] = {name: fn for name, (fn, _) in GRIDS.items()}
    methods[OURS] = ours(ours_fmr)
    chosen[OURS] = {}
    half_a_ours = run(va, wa, OURS, methods[OURS], {})

    def evaluate(vx: np.ndarray, wx: np.ndarray) -> list[dict[str, Any]]:
        return [run(vx, wx, name, fn, chosen[name]) for name, fn in methods.items()]

    strict = evaluate(vb, wb)
    everything = evaluate(v, who)
    others: dict[str, list[dict[str, Any]]] = {}
    sets = {
        "AT&T ORL (40 people x 10)": (IDENTITY / "att_orl", "identity", "_orl", lambda r: True),
        "Yale faces (15 people x 11)": (
            IDENTITY / "yale_faces",
            "identity",
            "_yale",
            lambda r: True,
        ),
        "NUAA live frames (subject)": (NUAA, "subject", "_nuaa", lambda r: r["label"] == "live"),
        "NUAA live + spoof frames (subject)": (NUAA, "subject", "_nuaa_all", lambda r: True),
    }
    for title, (root, column, tag, keep) in sets.items():
        vx, wx = load_manifest(root, column, args.workers, tag, keep)
        others[title] = evaluate(vx, wx)
        print(title, len(vx), "faces", flush=True)
    split = halves(v, who, fmr)

    def best_baseline(rows: list[dict[str, Any]]) -> float:
        return max(r["bcubed_f"] for r in rows if r["method"] != OURS)

    def ours_f(rows: list[dict[str, Any]]) -> float:
        return next(r["bcubed_f"] for r in rows if r["method"] == OURS)

    info = machine()
    lines = [
        "# cluster_lfw",
        "",
        f"facewise default pipeline ({DEFAULT}); {info}. Baselines tuned on LFW half A "
        "(identities by sha256 parity of the name); facewise.cluster at ClusterParams() "
        f"{ClusterParams()}.",
        "",
        f"## Strict: LFW dev half B ({len(vb)} faces, {len(set(wb))} people)",
        "",
        f"facewise {ours_f(strict):.4f} vs best baseline {best_baseline(strict):.4f} "
        f"({100 * (ours_f(strict) - best_baseline(strict)):+.2f} points).",
        "",
        *table(strict),
        "",
        f"## All LFW dev ({len(v)} faces; baselines at half-A parameters: favours them)",
        "",
        f"facewise {ours_f(everything):.4f} vs best baseline {best_baseline(everything):.4f} "
        f"({100 * (ours_f(everything) - best_baseline(everything)):+.2f} points).",
        "",
        *table(everything),
    ]
    for title, rows in others.items():
        lines += ["", f"## {title} (baselines at LFW half-A parameters)", "", *table(rows)]
    lines += [
        "",
        "## One pass against two halves (all LFW dev, random halves, seed 0)",
        "",
        f"one pass BCubed F {split['one_pass']['bcubed_f']:.4f}; cluster_vectors(first half) + "
        f"extend(second half) {split['two_halves']['bcubed_f']:.4f} "
        f"({100 * split['difference_bcubed_f']:+.2f} points); seconds {split['seconds']}.",
        "",
        "## Tuning on half A (best of each grid)",
        "",
        *table([max(rows, key=lambda r: r["bcubed_f"]) for rows in tuning.values()]),
        *table([half_a_ours])[2:],
    ]
    markdown = "\n".join(lines)
    print(markdown)
    data = {
        "machine": info,
        "params": {k: str(p) for k, p in chosen.items()},
        "ours_params": str(ClusterParams()),
        "strict_half_b": strict,
        "all_lfw": everything,
        "others": others,
        "halves": split,
        "tuning_half_a": tuning,
        "ours_half_a": half_a_ours,
    }
    print("written", write_result("cluster_lfw", markdown, data))


if __name__ == "__main__":
    main()
