"""1:1 verification over a pairs file: the k-fold protocol, ROC, EER, TAR at FAR, with intervals.

Protocol (LFW's): for each fold in turn, the accuracy threshold is chosen on the other folds and
the accuracy measured on this one; the mean and (population) standard deviation over folds are
reported. AUC, EER and TAR at FAR use all pairs at once. 95% intervals come from a stratified
percentile bootstrap: pairs are resampled with replacement within each (fold, same/different)
stratum and every figure is recomputed.

A pair whose face is missing on either side (no face found, unreadable or missing file) scores
−∞: it is always rejected — a false non-match when the pair is genuine, a correct rejection when
it is not (the rule of ``benchmarks/verify_lfw.py``). It is counted in ``failed_pairs`` and never
dropped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.evaluate import metrics
from facewise.evaluate.cache import Embedded, Pipeline, Progress, embed_images
from facewise.evaluate.datasets import PairSet
from facewise.evaluate.result import INTERNAL, OPTIONAL, LabResult
from facewise.settings import Settings

FARS = (1e-1, 1e-2, 1e-3, 1e-4)
REPS = 1000
SCORING_RULE = (
    "A pair with no face on either side (no face found, unreadable or missing file) scores −∞ "
    "and is always rejected: a false non-match if genuine, a correct rejection if not "
    "(the rule of benchmarks/verify_lfw.py). Such pairs are counted, never dropped."
)


@dataclass(frozen=True, kw_only=True, eq=False)
class VerifyResult(LabResult):
    """The figures of one verification run, in the order ``--json`` prints them; ``scores`` and
    ``labels`` (per pair) are kept for the report's curves."""

    kind = "verify"
    dataset: dict[str, Any]
    pipeline: dict[str, Any]
    pairs: int
    genuine_pairs: int
    impostor_pairs: int
    failed_pairs: int
    failed_genuine_pairs: int
    failed_impostor_pairs: int
    images: int
    failed_images: int
    failures: list[dict[str, str]]
    accuracy: float
    accuracy_std: float
    per_fold: list[dict[str, Any]]
    auc: float
    eer: float
    tar_at_far: dict[str, float]
    threshold_at_far: dict[str, float]
    tar_at_far_unsupported: dict[str, str]
    accuracy_ci95: tuple[float, float] | None = field(default=None, metadata=OPTIONAL)
    auc_ci95: tuple[float, float] | None = field(default=None, metadata=OPTIONAL)
    eer_ci95: tuple[float, float] | None = field(default=None, metadata=OPTIONAL)
    tar_at_far_ci95: dict[str, tuple[float, float]] | None = field(default=None, metadata=OPTIONAL)
    bootstrap: dict[str, Any] | None = field(default=None, metadata=OPTIONAL)
    scoring: str = SCORING_RULE
    embedding: dict[str, Any]
    scores_file: str | None = field(default=None, metadata=OPTIONAL)
    scores: npt.NDArray[np.float64] = field(metadata=INTERNAL, repr=False)
    labels: npt.NDArray[np.bool_] = field(metadata=INTERNAL, repr=False)


def far_key(far: float) -> str:
    return f"{far:g}"


def score_pairs(
    pairs: PairSet, embedded: Embedded
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """(scores, failed) for every pair: cosine similarity, −∞ where a side has no vector."""
    ia, ib = embedded.rows(pairs.path_a), embedded.rows(pairs.path_b)
    scores = metrics.pair_scores(embedded.vectors, ia, ib)
    return scores, ~np.isfinite(scores)


def verification_metrics(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    folds: npt.ArrayLike,
    *,
    fars: tuple[float, ...] = FARS,
    reps: int = REPS,
    seed: int = 0,
) -> dict[str, Any]:
    """The verification figures of scored pairs, with bootstrap intervals (``reps`` = 0: none)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    f = np.asarray(folds)
    k = metrics.kfold_accuracy(s, y, f)
    n_imp = int((~y).sum())
    supported = [far for far in fars if metrics.far_supported(n_imp, far)]
    tars = {far_key(far): metrics.tar_at_far(s, y, far) for far in supported}
    out: dict[str, Any] = {
        "accuracy": k.mean,
        "accuracy_std": k.std,
        "per_fold": [
            {"fold": int(fold), "accuracy": acc, "threshold": thr}
            for fold, acc, thr in zip(np.unique(f), k.per_fold, k.thresholds, strict=True)
        ],
        "auc": metrics.roc_auc(s, y),
        "eer": metrics.eer(s, y),
        "tar_at_far": {key: tar for key, (tar, _) in tars.items()},
        "threshold_at_far": {key: thr for key, (_, thr) in tars.items()},
        "tar_at_far_unsupported": {
            far_key(far): f"needs at least {metrics.min_impostors_for(far):,} impostor pairs; "
            f"there are {n_imp:,}"
            for far in fars
            if far not in supported
        },
    }
    if reps > 0:
        strata = f.astype(np.int64) * 2 + y
        reps_acc, reps_auc, reps_eer = [], [], []
        reps_tar: dict[str, list[float]] = {key: [] for key in tars}
        for idx in metrics.stratified_resamples(strata, reps, seed):
            rs, ry, rf = s[idx], y[idx], f[idx]
            reps_acc.append(metrics.kfold_accuracy(rs, ry, rf).mean)
            reps_auc.append(metrics.roc_auc(rs, ry))
            reps_eer.append(metrics.eer(rs, ry))
            for far in supported:
                reps_tar[far_key(far)].append(metrics.tar_at_far(rs, ry, far)[0])
        out["accuracy_ci95"] = metrics.percentile_ci(reps_acc)
        out["auc_ci95"] = metrics.percentile_ci(reps_auc)
        out["eer_ci95"] = metrics.percentile_ci(reps_eer)
        out["tar_at_far_ci95"] = {key: metrics.percentile_ci(v) for key, v in reps_tar.items()}
        out["bootstrap"] = {"reps": reps, "seed": seed, "strata": "fold x same/different"}
    return out


def run_verify(
    pairs: PairSet,
    pipeline: Pipeline,
    *,
    settings: Settings | None = None,
    cache_dir: Path | str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    fars: tuple[float, ...] = FARS,
    reps: int = REPS,
    seed: int = 0,
    scores_path: Path | str | None = None,
) -> VerifyResult:
    """Embed the pairs' images with ``pipeline`` (cached) and evaluate verification."""
    pairs.check_kfold()
    [embedded] = embed_images(
        pairs.root,
        pairs.images(),
        [pipeline],
        cache_dir=cache_dir,
        settings=settings,
        workers=workers,
        progress=progress,
    )
    return verify_embedded(
        pairs, embedded, fars=fars, reps=reps, seed=seed, scores_path=scores_path
    )


def verify_embedded(
    pairs: PairSet,
    embedded: Embedded,
    *,
    fars: tuple[float, ...] = FARS,
    reps: int = REPS,
    seed: int = 0,
    scores_path: Path | str | None = None,
) -> VerifyResult:
    """Verification figures of pairs whose images are embedded (no model, no plotting)."""
    scores, failed = score_pairs(pairs, embedded)
    if scores_path is not None:
        write_scores(scores_path, pairs, scores)
    figures_ = verification_metrics(
        scores, pairs.same, pairs.folds, fars=fars, reps=reps, seed=seed
    )
    failures = embedded.failures()
    return VerifyResult(
        dataset={**pairs.describe(), "notes": pairs.notes},
        pipeline={**embedded.pipeline.as_dict(), "space": embedded.space.as_dict()},
        pairs=len(pairs),
        genuine_pairs=int(pairs.same.sum()),
        impostor_pairs=int((~pairs.same).sum()),
        failed_pairs=int(failed.sum()),
        failed_genuine_pairs=int((failed & pairs.same).sum()),
        failed_impostor_pairs=int((failed & ~pairs.same).sum()),
        images=len(embedded.paths),
        failed_images=len(failures),
        failures=failures[:100],
        **figures_,
        embedding={
            "computed": embedded.computed,
            "cached": len(embedded.paths) - embedded.computed,
            "seconds": round(embedded.seconds, 2),
        },
        scores_file=None if scores_path is None else str(scores_path),
        scores=scores,
        labels=pairs.same,
    )


def write_scores(path: Path | str, pairs: PairSet, scores: npt.ArrayLike) -> Path:
    """One row per pair: fold, path_a, path_b, same_identity, score (−inf: a side had no face)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["fold", "path_a", "path_b", "same_identity", "score"])
        values = np.asarray(scores, dtype=np.float64)
        for row in zip(pairs.folds, pairs.path_a, pairs.path_b, pairs.same, values, strict=True):
            fold, a, b, same, score = row
            out.writerow([int(fold), a, b, int(same), repr(float(score))])
    return target
