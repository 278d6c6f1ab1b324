"""Two or more pipelines (or a fusion of their scores) side by side on the same pairs.

Each system is scored on the same pairs and evaluated with the verification protocol of
:mod:`facewise.evaluate.verify`. The difference in k-fold accuracy of each system from the first
(the baseline) comes with a 95% *paired* bootstrap interval: the same resampled pairs (with
replacement within each fold x same/different stratum) are scored by every system, so the
interval reflects the difference, not the two systems' separate noise. A difference whose
interval excludes 0 is marked significant.

Score fusion (``fuse``): the systems' scores are z-normalised with the impostor mean and std of
the training folds and added (:func:`facewise.evaluate.metrics.fused_kfold`, no leakage); the
bootstrap holds those statistics fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.evaluate import metrics
from facewise.evaluate.cache import Pipeline, Progress, embed_images
from facewise.evaluate.datasets import DatasetError, PairSet
from facewise.evaluate.report import (
    PALETTE,
    Card,
    Evaluation,
    Report,
    figures,
    fmt,
    fmt_ci,
    jsonable,
    pct,
    plot,
    table,
)
from facewise.evaluate.verify import (
    FARS,
    REPS,
    roc_axes,
    score_pairs,
    verification_metrics,
    wrap,
)
from facewise.settings import Settings


def paired_differences(
    systems: dict[str, npt.NDArray[np.float64]],
    labels: npt.NDArray[np.bool_],
    folds: npt.NDArray[np.int64],
    *,
    reps: int = REPS,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """k-fold accuracy of each system minus the first's, with a paired bootstrap interval."""
    names = list(systems)
    base = names[0]
    point = {n: metrics.kfold_accuracy(s, labels, folds).mean for n, s in systems.items()}
    draws: dict[str, list[float]] = {n: [] for n in names[1:]}
    strata = folds.astype(np.int64) * 2 + labels
    for idx in metrics.stratified_resamples(strata, reps, seed):
        y, f = labels[idx], folds[idx]
        acc = {n: metrics.kfold_accuracy(s[idx], y, f).mean for n, s in systems.items()}
        for n in names[1:]:
            draws[n].append(acc[n] - acc[base])
    out = []
    for n in names[1:]:
        ci = metrics.percentile_ci(draws[n])
        out.append(
            {
                "system": n,
                "baseline": base,
                "accuracy_diff": point[n] - point[base],
                "ci95": ci,
                "significant": bool(ci[0] > 0 or ci[1] < 0),
                "share_better": float(np.mean(np.array(draws[n]) > 0)),
            }
        )
    return out


def run_compare(
    pairs: PairSet,
    pipelines: Sequence[Pipeline],
    *,
    fuse: bool = False,
    reps: int = REPS,
    seed: int = 0,
    fars: tuple[float, ...] = FARS,
    settings: Settings | None = None,
    cache_dir: Path | str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    pairs.check_kfold()
    if len(set(pipelines)) != len(pipelines):
        raise DatasetError("the same system is listed twice")
    if len(pipelines) + int(fuse) < 2 or (fuse and len(pipelines) < 2):
        raise DatasetError("compare needs at least two systems (fusion needs two to fuse)")
    embedded = embed_images(
        pairs.root,
        pairs.images(),
        list(pipelines),
        cache_dir=cache_dir,
        settings=settings,
        workers=workers,
        progress=progress,
    )
    scores: dict[str, npt.NDArray[np.float64]] = {}
    failed: dict[str, int] = {}
    for p, emb in zip(pipelines, embedded, strict=True):
        s, f = score_pairs(pairs, emb)
        scores[p.label], failed[p.label] = s, int(f.sum())
    if fuse:
        name = "fusion: " + " + ".join(p.label for p in pipelines)
        scores[name] = metrics.fused_kfold(list(scores.values()), pairs.same, pairs.folds)
        failed[name] = int((~np.isfinite(scores[name])).sum())
    systems = []
    owners: list[Pipeline | None] = [*pipelines, None]  # the fusion has no pipeline
    for (name, s), owner in zip(scores.items(), owners, strict=False):
        figs = verification_metrics(s, pairs.same, pairs.folds, fars=fars, reps=0)
        systems.append(
            {
                "name": name,
                "pipeline": owner.as_dict() if owner is not None else None,
                "failed_pairs": failed[name],
                **{k: figs[k] for k in ("accuracy", "accuracy_std", "auc", "eer", "tar_at_far")},
                "tar_at_far_unsupported": figs["tar_at_far_unsupported"],
            }
        )
    diffs = paired_differences(scores, pairs.same, pairs.folds, reps=reps, seed=seed)
    data = jsonable(
        {
            "kind": "compare",
            "dataset": {**pairs.describe(), "notes": pairs.notes},
            "baseline": systems[0]["name"],
            "systems": systems,
            "differences": diffs,
            "bootstrap": {
                "reps": reps,
                "seed": seed,
                "paired": True,
                "strata": "fold x same/different",
            },
        }
    )
    labels = pairs.same
    return Evaluation("compare", data, lambda: compare_report(data, scores, labels))


def compare_report(data: dict[str, Any], scores: dict[str, Any], labels: Any) -> Report:
    systems = data["systems"]
    report = Report(
        "Comparison",
        f"{len(systems)} systems on the same {data['dataset']['pairs']:,} pairs of "
        f"{data['dataset']['source']}; baseline: {data['baseline']}",
        data,
    )
    report.cards = [
        Card(
            s["name"] if len(s["name"]) < 40 else s["name"][:37] + "…",
            pct(s["accuracy"]),
            f"± {pct(s['accuracy_std'])}, EER {pct(s['eer'])}",
        )
        for s in systems[:4]
    ]
    lines = []
    for d in data["differences"]:
        sign = "+" if d["accuracy_diff"] >= 0 else "−"
        verdict = "a real difference" if d["significant"] else "within the noise"
        lines.append(
            f"{d['system']}: {sign}{abs(d['accuracy_diff']) * 100:.2f} points "
            f"[{d['ci95'][0] * 100:+.2f}, {d['ci95'][1] * 100:+.2f}] — {verdict}"
        )
    report.verdict = "Against the baseline: " + "; ".join(lines) + "."
    curves = [(name, s, labels) for name, s in scores.items()]
    diffs = data["differences"]

    def forest(ax: Any) -> None:
        ys = np.arange(len(diffs))
        for i, d in enumerate(diffs):
            lo, hi = d["ci95"]
            colour = PALETTE[(i + 1) % len(PALETTE)]
            ax.errorbar(
                d["accuracy_diff"] * 100,
                i,
                xerr=[[(d["accuracy_diff"] - lo) * 100], [(hi - d["accuracy_diff"]) * 100]],
                fmt="o",
                color=colour,
                capsize=4,
            )
        ax.axvline(0, color="k", lw=1)
        ax.set_yticks(ys, [wrap(d["system"], 50) for d in diffs], fontsize=8)
        ax.set_xlabel("accuracy difference from baseline (points), 95% CI")
        ax.set_title("Paired bootstrap")

    report.section(
        "Curves",
        figures(
            plot(lambda ax: roc_axes(ax, curves), "overlaid ROC"),
            plot(lambda ax: roc_axes(ax, curves, det=True), "overlaid DET"),
            plot(forest, "accuracy differences", width=10.4, height=1.6 + 0.6 * len(diffs)),
        ),
    )
    fars = sorted({k for s in systems for k in s["tar_at_far"]}, key=float, reverse=True)
    report.section(
        "Systems",
        table(
            ["system", "accuracy", "± std", "AUC", "EER"]
            + [f"TAR @ FAR {f}" for f in fars]
            + ["failed pairs"],
            [
                [
                    s["name"],
                    pct(s["accuracy"]),
                    pct(s["accuracy_std"]),
                    fmt(s["auc"]),
                    pct(s["eer"]),
                ]
                + [pct(s["tar_at_far"].get(f)) for f in fars]
                + [s["failed_pairs"]]
                for s in systems
            ],
        ),
    )
    report.section(
        "Differences from the baseline",
        table(
            [
                "system",
                "accuracy difference",
                "95% CI (paired bootstrap)",
                "significant",
                "resamples where better",
            ],
            [
                [
                    d["system"],
                    f"{d['accuracy_diff'] * 100:+.2f} pts",
                    fmt_ci([d["ci95"][0] * 100, d["ci95"][1] * 100], 2),
                    fmt(d["significant"]),
                    pct(d["share_better"], 1),
                ]
                for d in diffs
            ],
        ),
    )
    b = data["bootstrap"]
    report.notes = [
        "Every system is scored on the same pairs; k-fold accuracy with the threshold chosen on "
        "the other folds.",
        f"Paired bootstrap: {b['reps']} resamples (seed {b['seed']}), pairs drawn with "
        "replacement within each fold x same/different stratum; each resample is scored by "
        "every system, and the percentile interval of the difference is reported.",
        "Fusion: z-normalised score sum with impostor statistics from the training folds only.",
        "A pair without a face on a side scores −∞ (rejected) in every system.",
        *data["dataset"].get("notes", []),
    ]
    return report


def parse_system(spec: str, settings: Settings | None = None) -> Pipeline:
    """A system named as ``MODEL[/DETECTOR[/flip|noflip]]``, e.g. ``dlib-resnet/hog/noflip``,
    ``facenet/mtcnn/flip`` or ``default``; what is left out comes from the settings."""
    from facewise.evaluate.cache import resolve_pipeline

    parts = [p.strip() for p in spec.split("/")] if spec.strip() != "default" else []
    if len(parts) > 3 or any(not p for p in parts):
        raise DatasetError(f"system {spec!r}: write MODEL[/DETECTOR[/flip|noflip]]")
    flip = None
    if len(parts) == 3:
        if parts[2] not in ("flip", "noflip"):
            raise DatasetError(f"system {spec!r}: the third part is flip or noflip")
        flip = parts[2] == "flip"
    return resolve_pipeline(
        embedder=parts[0] if parts else None,
        detector=parts[1] if len(parts) > 1 else None,
        flip=flip,
        settings=settings,
    )
