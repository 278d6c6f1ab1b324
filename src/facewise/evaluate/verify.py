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
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.evaluate import metrics
from facewise.evaluate.cache import Embedded, Pipeline, Progress, embed_images
from facewise.evaluate.datasets import PairSet
from facewise.evaluate.report import (
    PALETTE,
    Card,
    Evaluation,
    Report,
    figures,
    fmt,
    fmt_ci,
    jsonable,
    paragraph,
    pct,
    pct_ci,
    plot,
    table,
)
from facewise.settings import Settings

FARS = (1e-1, 1e-2, 1e-3, 1e-4)
REPS = 1000
SCORING_RULE = (
    "A pair with no face on either side (no face found, unreadable or missing file) scores −∞ "
    "and is always rejected: a false non-match if genuine, a correct rejection if not "
    "(the rule of benchmarks/verify_lfw.py). Such pairs are counted, never dropped."
)
BOOTSTRAP_NOTE = (
    "95% intervals: percentile bootstrap ({reps} resamples, seed {seed}); pairs resampled with "
    "replacement within each fold x same/different stratum, every figure recomputed."
)


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
) -> Evaluation:
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
    scores, failed = score_pairs(pairs, embedded)
    if scores_path is not None:
        write_scores(scores_path, pairs, scores)
    figures_ = verification_metrics(
        scores, pairs.same, pairs.folds, fars=fars, reps=reps, seed=seed
    )
    failures = embedded.failures()
    data = jsonable(
        {
            "kind": "verify",
            "dataset": {**pairs.describe(), "notes": pairs.notes},
            "pipeline": {**pipeline.as_dict(), "space": embedded.space.as_dict()},
            "pairs": len(pairs),
            "genuine_pairs": int(pairs.same.sum()),
            "impostor_pairs": int((~pairs.same).sum()),
            "failed_pairs": int(failed.sum()),
            "failed_genuine_pairs": int((failed & pairs.same).sum()),
            "failed_impostor_pairs": int((failed & ~pairs.same).sum()),
            "images": len(embedded.paths),
            "failed_images": len(failures),
            "failures": failures[:100],
            **figures_,
            "scoring": SCORING_RULE,
            "embedding": {
                "computed": embedded.computed,
                "cached": len(embedded.paths) - embedded.computed,
                "seconds": round(embedded.seconds, 2),
            },
        }
    )
    if scores_path is not None:
        data["scores_file"] = str(scores_path)
    return Evaluation("verify", data, lambda: verify_report(data, scores, pairs.same))


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


# --- the report -----------------------------------------------------------------------------------


def roc_axes(ax: Any, curves: list[tuple[str, Any, Any]], *, det: bool = False) -> None:
    """ROC (TAR against FAR, log FAR) or DET (FNMR against FMR, both log) for several systems."""
    lows = []
    for i, (label, scores, labels) in enumerate(curves):
        fmr, tmr, _ = metrics.roc_curve(scores, labels)
        lows.append(float(tmr[fmr <= 0.01].max()) if (fmr <= 0.01).any() else 0.0)
        floor = 0.5 / max(1, int((~np.asarray(labels)).sum()))
        x = np.maximum(fmr, floor)
        y = np.maximum(1 - tmr, 0.5 / max(1, int(np.asarray(labels).sum()))) if det else tmr
        ax.step(x, y, where="post", color=PALETTE[i % len(PALETTE)], label=wrap(label), lw=1.6)
    ax.set_xscale("log")
    ax.set_xlabel("false match rate (FAR)")
    if det:
        ax.set_yscale("log")
        ax.set_ylabel("false non-match rate (FNMR)")
        ax.set_title("DET")
    else:
        ax.set_ylabel("true match rate (TAR)")
        ax.set_title("ROC")
        ax.set_ylim(max(0.0, min(lows) - 0.05), 1.005)
    ax.legend(loc="lower right" if not det else "lower left", fontsize=7)


def wrap(label: str, width: int = 34) -> str:
    import textwrap

    return textwrap.fill(label, width)


def histogram_axes(ax: Any, scores: Any, labels: Any, marks: dict[str, float]) -> None:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    finite = np.isfinite(s)
    bins = np.linspace(s[finite].min(), s[finite].max(), 60) if finite.any() else 10
    ax.hist(s[y & finite], bins=bins, alpha=0.6, color=PALETTE[2], label="genuine")
    ax.hist(s[~y & finite], bins=bins, alpha=0.6, color=PALETTE[1], label="impostor")
    for i, (name, value) in enumerate(marks.items()):
        ax.axvline(value, color=PALETTE[(i + 3) % len(PALETTE)], ls="--", lw=1.2, label=name)
    ax.set_xlabel("score (cosine similarity)")
    ax.set_ylabel("pairs")
    ax.set_title("Score distributions")
    ax.legend(fontsize=8)


def verify_report(data: dict[str, Any], scores: Any, labels: Any) -> Report:
    p = data["pipeline"]
    report = Report(
        "Verification",
        f"{p['embedder']} / {p['detector']} / flip {'on' if p['flip'] else 'off'} — "
        f"{data['dataset']['source']}, {data['pairs']:,} pairs, "
        f"folds {data['dataset']['folds']}",
        data,
    )
    best_far = next(iter(sorted(data["tar_at_far"], key=float)), None)
    report.cards = [
        Card("accuracy", pct(data["accuracy"]), f"± {pct(data['accuracy_std'])} over folds"),
        Card("AUC", fmt(data["auc"]), fmt_ci(data.get("auc_ci95"))),
        Card("EER", pct(data["eer"]), pct_ci(data.get("eer_ci95"), 2)),
    ]
    if best_far is not None:
        report.cards.append(
            Card(
                f"TAR @ FAR {best_far}",
                pct(data["tar_at_far"][best_far]),
                pct_ci(data.get("tar_at_far_ci95", {}).get(best_far), 2),
            )
        )
    report.cards.append(
        Card(
            "failed pairs",
            fmt(data["failed_pairs"]),
            f"{data['failed_images']} image(s) without a face",
        )
    )
    if best_far is not None:
        report.verdict = (
            f"At a false-accept rate of {best_far}, {pct(data['tar_at_far'][best_far], 1)} of "
            f"genuine pairs are accepted; k-fold accuracy {pct(data['accuracy'])}. "
            f"{data['failed_pairs']} of {data['pairs']:,} pairs had no face on a side "
            "(counted as rejections)."
        )
    marks = {"k-fold threshold (mean)": float(np.mean([f["threshold"] for f in data["per_fold"]]))}
    if best_far is not None:
        marks[f"FAR {best_far} threshold"] = data["threshold_at_far"][best_far]
    curves = [("this pipeline", scores, labels)]
    report.section(
        "Curves",
        figures(
            plot(lambda ax: roc_axes(ax, curves), "ROC curve"),
            plot(lambda ax: roc_axes(ax, curves, det=True), "DET curve"),
            plot(
                lambda ax: histogram_axes(ax, scores, labels, marks), "score histogram", width=10.4
            ),
        ),
    )
    ci = data.get("tar_at_far_ci95", {})
    rows = [
        [
            far,
            pct(data["tar_at_far"][far]),
            pct_ci(ci.get(far), 2),
            fmt(data["threshold_at_far"][far]),
        ]
        for far in sorted(data["tar_at_far"], key=float, reverse=True)
    ]
    rows += [
        [far, "not supported", why, "—"] for far, why in data["tar_at_far_unsupported"].items()
    ]
    report.section(
        "True accept rate at fixed false accept rates",
        table(["FAR", "TAR", "95% interval", "threshold"], rows),
    )
    report.section(
        "Per fold (threshold chosen on the other folds)",
        table(
            ["fold", "accuracy", "threshold"],
            [[f["fold"], pct(f["accuracy"]), fmt(f["threshold"])] for f in data["per_fold"]],
        ),
        paragraph(
            f"Mean {pct(data['accuracy'])} ± {pct(data['accuracy_std'])} (population std over "
            f"folds); 95% interval {pct_ci(data.get('accuracy_ci95'), 2)}."
        ),
    )
    failure_rows = [[f["path"], f["reason"]] for f in data["failures"][:30]]
    report.section(
        "Failures to enrol",
        paragraph(
            f"{data['failed_images']} of {data['images']:,} images gave no face; "
            f"{data['failed_pairs']} pairs affected ({data['failed_genuine_pairs']} genuine, "
            f"{data['failed_impostor_pairs']} impostor). {SCORING_RULE}"
        ),
        table(["image", "reason"], failure_rows) if failure_rows else "",
    )
    report.notes = [
        "k-fold protocol: for each fold the accuracy-maximising threshold is chosen on the other "
        "folds and applied to this fold; mean and population std over folds.",
        "TAR at FAR: threshold = the lowest score at which at most FAR x impostors are accepted, "
        "over all pairs; a FAR is reported only with at least 1/FAR impostor pairs.",
        "EER interpolated between neighbouring thresholds; AUC = Mann-Whitney statistic "
        "(ties count half).",
        SCORING_RULE,
    ]
    if "bootstrap" in data:
        b = data["bootstrap"]
        report.notes.append(BOOTSTRAP_NOTE.format(reps=b["reps"], seed=b["seed"]))
    report.notes += data["dataset"].get("notes", [])
    return report
