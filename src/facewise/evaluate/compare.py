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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.evaluate import metrics
from facewise.evaluate.cache import Pipeline, Progress, embed_images
from facewise.evaluate.datasets import DatasetError, PairSet
from facewise.evaluate.result import INTERNAL, LabResult
from facewise.evaluate.verify import FARS, REPS, score_pairs, verification_metrics
from facewise.settings import Settings


@dataclass(frozen=True, kw_only=True, eq=False)
class CompareResult(LabResult):
    """Systems side by side and their differences from the baseline, in the order ``--json``
    prints them; every system's per-pair scores (and the truth) are kept for the report."""

    kind = "compare"
    dataset: dict[str, Any]
    baseline: str
    systems: list[dict[str, Any]]
    differences: list[dict[str, Any]]
    bootstrap: dict[str, Any]
    scores: dict[str, npt.NDArray[np.float64]] = field(metadata=INTERNAL, repr=False)
    labels: npt.NDArray[np.bool_] = field(metadata=INTERNAL, repr=False)


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
) -> CompareResult:
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
    return CompareResult(
        dataset={**pairs.describe(), "notes": pairs.notes},
        baseline=systems[0]["name"],
        systems=systems,
        differences=diffs,
        bootstrap={"reps": reps, "seed": seed, "paired": True, "strata": "fold x same/different"},
        scores=scores,
        labels=pairs.same,
    )


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
