"""LFW verification protocol over the folds present (the dev copy: folds 1-5, 3,000 pairs).

For each system: accuracy ± std (threshold chosen on the other folds, tested on each fold in turn),
EER, TAR at FAR = 1e-3, and failures to detect (a pair with a missing face counts as "different").
The peer, face_recognition 1.3.0, runs in the same process on the same images and the same dlib.

    python benchmarks/verify_lfw.py [--workers 2] [--write-thresholds] [--fresh]

With --write-thresholds, the two operating points of each facewise embedding space are written to
src/facewise/models/thresholds.json: "accuracy" (best accuracy over all official pairs) and "fmr"
(false-match rate <= 1e-3 over every cross-identity pair of the images the pairs use — millions of
impostor pairs, so the 1e-3 point is well determined, unlike on 1,500 official impostor pairs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from common import (
    DEFAULT,
    LFW,
    ROOT,
    SYSTEMS,
    embed_all,
    lfw_pairs,
    machine,
    peer_available,
    write_result,
)
from facewise.evaluate.metrics import (
    best_threshold,
    eer,
    fused_kfold,
    kfold_accuracy,
    pair_scores,
    rates_at,
    tar_at_far,
    threshold_at_fmr,
)

THRESHOLD_FILE = ROOT / "src" / "facewise" / "models" / "thresholds.json"
CALIBRATED = {  # thresholds.json key -> system
    "dlib-resnet": "facewise dlib-resnet hog+mtcnn",
    "dlib-resnet+flip": DEFAULT,
    "facenet": "facewise facenet",
    "facenet+flip": "facewise facenet +flip",
}


def summarise(
    name: str,
    scores: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    failures: int | None,
    seconds: float | None,
) -> dict:
    k = kfold_accuracy(scores, labels, folds)
    tar, _ = tar_at_far(scores, labels, 1e-3)
    return {
        "system": name,
        "accuracy": k.mean,
        "std": k.std,
        "per_fold": k.per_fold,
        "eer": eer(scores, labels),
        "tar_at_far_1e-3": tar,
        "failures_to_detect": failures,
        "seconds": seconds,
    }


def _blank(value: object) -> str:
    return "—" if value is None else str(value)


def calibrate(
    vectors: np.ndarray, paths: list[str], scores: np.ndarray, labels: np.ndarray
) -> dict:
    ids = np.array([Path(p).parent.name for p in paths])
    ok = ~np.isnan(vectors).any(axis=1)
    v = vectors[ok] / np.linalg.norm(vectors[ok], axis=1, keepdims=True)
    who = ids[ok]
    sims = v @ v.T
    upper = np.triu(np.ones(sims.shape, dtype=bool), 1)
    impostors = sims[upper & (who[:, None] != who[None, :])]
    genuine = sims[upper & (who[:, None] == who[None, :])]
    fmr_thr = threshold_at_fmr(impostors, 1e-3)
    acc_thr, acc = best_threshold(scores, labels)
    fmr_pairs, tmr_pairs = rates_at(scores, labels, fmr_thr)
    return {
        "fmr": {
            "threshold": fmr_thr,
            "target_fmr": 1e-3,
            "impostor_pairs": int(impostors.size),
            "tmr_all_genuine_pairs": float((genuine >= fmr_thr).mean()),
            "genuine_pairs": int(genuine.size),
            "fmr_official_pairs": fmr_pairs,
            "tmr_official_pairs": tmr_pairs,
        },
        "accuracy": {"threshold": acc_thr, "accuracy_official_pairs": acc},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="recompute cached embeddings")
    parser.add_argument("--write-thresholds", action="store_true")
    parser.add_argument("--systems", nargs="*", default=list(SYSTEMS))
    args = parser.parse_args()

    pairs = lfw_pairs()
    paths = sorted({p[k] for p in pairs for k in ("path_a", "path_b")})
    full = [str(LFW / p) for p in paths]
    index = {p: i for i, p in enumerate(paths)}
    ia = np.array([index[p["path_a"]] for p in pairs])
    ib = np.array([index[p["path_b"]] for p in pairs])
    labels = np.array([p["same_identity"] == "1" for p in pairs])
    folds = np.array([int(p["fold"]) for p in pairs])

    systems = [s for s in args.systems if s in SYSTEMS]
    if "face_recognition 1.3.0" in systems and not peer_available():
        print("face_recognition is not installed: the peer is left out (run `make bench`)")
        systems.remove("face_recognition 1.3.0")

    rows, scores_by, vectors_by = [], {}, {}
    for name in systems:
        start = time.perf_counter()
        vectors = embed_all(name, full, args.workers, fresh=args.fresh)
        took = time.perf_counter() - start
        metric = "euclidean" if name.startswith("face_recognition") else "cosine"
        scores = pair_scores(vectors, ia, ib, metric)
        missing = int(np.isnan(vectors).any(axis=1).sum())
        scores_by[name], vectors_by[name] = scores, vectors
        rows.append(summarise(name, scores, labels, folds, missing, took))
        print(f"{name}: {rows[-1]['accuracy']:.4f} ± {rows[-1]['std']:.4f}", flush=True)
    for a, b in (
        ("facewise dlib-resnet hog+mtcnn", "facewise facenet"),
        (DEFAULT, "facewise facenet +flip"),
    ):
        if a in scores_by and b in scores_by:
            fused = fused_kfold([scores_by[a], scores_by[b]], labels, folds)
            name = f"score fusion: {a[9:]} + {b[9:]}"
            rows.append(summarise(name, fused, labels, folds, None, None))

    header = (
        "| system | accuracy ± std | EER | TAR@FAR=1e-3 | failures to detect | time (s) |\n"
        "|---|---|---|---|---|---|"
    )
    lines = [
        f"| {r['system']} | {r['accuracy']:.4f} ± {r['std']:.4f} | {r['eer']:.4f} | "
        f"{r['tar_at_far_1e-3']:.4f} | {_blank(r['failures_to_detect'])} | "
        f"{_blank(r['seconds'] and round(r['seconds']))} |"
        for r in rows
    ]
    info = machine()
    note = (
        f"LFW (grayscale copy) folds {sorted(set(folds.tolist()))}, {len(pairs)} pairs, "
        f"{len(paths)} images; {args.workers} worker processes; {info}. Failures to detect "
        "count as 'different' decisions. Fusion rows: z-normalised score sum, statistics "
        "from the training folds only. Time: embedding all images (cached runs show ~0)."
    )
    markdown = "\n".join(["# verify_lfw", "", note, "", header, *lines])
    print(markdown)
    print("written", write_result("verify_lfw", markdown, {"machine": info, "rows": rows}))

    if args.write_thresholds:
        table = json.loads(THRESHOLD_FILE.read_text()) if THRESHOLD_FILE.is_file() else {}
        from facewise import models

        for key, name in CALIBRATED.items():
            if name not in vectors_by:
                continue
            entry = calibrate(vectors_by[name], paths, scores_by[name], labels)
            entry["weights_sha256"] = models.info(key.split("+")[0]).sha256
            entry["calibrated_on"] = (
                f"LFW grayscale folds 1-5 ({len(paths)} images), "
                f"{info['date']}, benchmarks/verify_lfw.py"
            )
            table[key] = entry
        THRESHOLD_FILE.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
        print("written", THRESHOLD_FILE)


if __name__ == "__main__":
    main()
