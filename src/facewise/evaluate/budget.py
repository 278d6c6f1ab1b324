"""Time budgets: the best verification accuracy each pipeline configuration reaches, and what it
costs per face on this machine; the best accuracy within 100, 500 and 1000 ms (FRUITS tiers).

Time per face: detect + align + embed of the largest face (images decoded beforehand), one
process, ``threads`` inference threads (1 by default: the cost when each core serves its own
request). Every configuration is timed on the same sample of images, in ``rounds`` interleaved
rounds; an image's time is its fastest round (the least disturbed by other work on the machine),
and a configuration's time is the median over images (the 90th percentile is reported too).
Accuracy: the k-fold protocol of :mod:`facewise.evaluate.verify` on the pairs (failures to enrol
scored as rejections).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facewise.engine import largest_detection
from facewise.errors import FacewiseError
from facewise.evaluate import metrics
from facewise.evaluate.cache import (
    Pipeline,
    Progress,
    embed_images,
    engines_for,
    resolve_pipeline,
)
from facewise.evaluate.datasets import DatasetError, PairSet
from facewise.evaluate.result import LabResult
from facewise.evaluate.verify import score_pairs
from facewise.settings import Settings, load_settings

TIERS_MS = (100, 500, 1000)
DETECTORS = ("hog", "mtcnn", "hog+mtcnn")
EMBEDDERS = ("dlib-resnet", "facenet")


@dataclass(frozen=True, kw_only=True, eq=False)
class BudgetResult(LabResult):
    """Accuracy and time per face of each configuration, and the best within each tier, in the
    order ``--json`` prints them."""

    kind = "budget"
    dataset: dict[str, Any]
    tiers_ms: list[int]
    tiers: dict[str, dict[str, Any] | None]
    configs: list[dict[str, Any]]
    timing: dict[str, Any]


def configurations(
    detectors: Sequence[str] = DETECTORS,
    embedders: Sequence[str] = EMBEDDERS,
    flips: Sequence[bool] = (False, True),
    settings: Settings | None = None,
) -> list[Pipeline]:
    return [
        resolve_pipeline(detector=d, embedder=e, flip=f, settings=settings)
        for d, e, f in itertools.product(detectors, embedders, flips)
    ]


def parse_configurations(
    detectors: str,
    models: str,
    flips: str,
    *,
    flip: bool | None = None,
    settings: Settings | None = None,
) -> list[Pipeline]:
    """Configurations named as comma-separated lists (``"hog,mtcnn"``, ``"dlib-resnet"``,
    ``"off,on"``); ``flip``, when given, replaces the flips."""
    flip_values = [f.strip() for f in flips.split(",") if f.strip()]
    if flip is not None:
        flip_values = ["on" if flip else "off"]
    if not flip_values or set(flip_values) - {"on", "off"}:
        raise DatasetError(f"--flips: on, off or off,on — not {flips!r}")
    return configurations(
        [d.strip() for d in detectors.split(",") if d.strip()],
        [m.strip() for m in models.split(",") if m.strip()],
        [f == "on" for f in flip_values],
        settings,
    )


def time_pipelines(
    root: Path,
    paths: Sequence[str],
    pipelines: Sequence[Pipeline],
    *,
    settings: Settings,
    rounds: int = 2,
) -> list[dict[str, Any]]:
    """Per pipeline: median and 90th-percentile ms per face over ``paths`` (see the module
    notes), and how many of the images gave a face."""
    engines = engines_for(pipelines, settings)
    images = []
    for p in paths:
        try:
            images.append(engines[0].load_image(root / p))
        except FacewiseError:
            continue
    if not images:
        raise DatasetError("no image to time could be read")
    for engine in engines:  # load the models and warm up, untimed
        engine.embed_detections(images[0], engine.detector.detect(images[0])[:1])
    best = np.full((len(engines), len(images)), np.inf)
    faces = np.zeros(len(engines), dtype=np.int64)
    for r in range(rounds):
        for k, engine in enumerate(engines):
            for i, image in enumerate(images):
                start = time.perf_counter()
                found = engine.detector.detect(image)
                if found:
                    engine.embed_detections(image, [largest_detection(found)])
                best[k, i] = min(best[k, i], time.perf_counter() - start)
                if r == 0:
                    faces[k] += bool(found)
    return [
        {
            "ms_per_face": float(np.median(best[k]) * 1000),
            "ms_p90": float(np.percentile(best[k], 90) * 1000),
            "timed_images": len(images),
            "timed_faces_found": int(faces[k]),
        }
        for k in range(len(engines))
    ]


def run_budget(
    pairs: PairSet,
    pipelines: Sequence[Pipeline] | None = None,
    *,
    tiers_ms: Sequence[int] = TIERS_MS,
    time_images: int = 30,
    rounds: int = 2,
    threads: int = 1,
    settings: Settings | None = None,
    cache_dir: Path | str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> BudgetResult:
    """Accuracy and time per face of each configuration, and the best within each tier."""
    pairs.check_kfold()
    settings = settings or load_settings()
    configs = list(pipelines) if pipelines else configurations(settings=settings)
    if len(set(configs)) != len(configs):
        raise DatasetError("the same configuration is listed twice")
    embedded = embed_images(
        pairs.root,
        pairs.images(),
        configs,
        cache_dir=cache_dir,
        settings=settings,
        workers=workers,
        progress=progress,
    )
    sample = pairs.images()[:: max(1, len(pairs.images()) // max(1, time_images))][:time_images]
    timing_settings = load_settings(
        **{"threads": threads, "max_side": settings.max_side, "min_face": settings.min_face}
    )
    times = time_pipelines(pairs.root, sample, configs, settings=timing_settings, rounds=rounds)
    rows = []
    for pipeline, emb, t in zip(configs, embedded, times, strict=True):
        scores, failed = score_pairs(pairs, emb)
        k = metrics.kfold_accuracy(scores, pairs.same, pairs.folds)
        rows.append(
            {
                "config": pipeline.label,
                **pipeline.as_dict(),
                "accuracy": k.mean,
                "accuracy_std": k.std,
                "failed_pairs": int(failed.sum()),
                "failed_images": len(emb.failures()),
                **t,
            }
        )
    tiers = {}
    for tier in sorted(tiers_ms):
        within = [r for r in rows if r["ms_per_face"] <= tier]
        best = max(within, key=lambda r: (r["accuracy"], -r["ms_per_face"]), default=None)
        tiers[str(tier)] = (
            None
            if best is None
            else {
                "config": best["config"],
                "accuracy": best["accuracy"],
                "accuracy_std": best["accuracy_std"],
                "ms_per_face": best["ms_per_face"],
            }
        )
    return BudgetResult(
        dataset={**pairs.describe(), "notes": pairs.notes},
        tiers_ms=sorted(tiers_ms),
        tiers=tiers,
        configs=rows,
        timing={
            "threads": threads,
            "rounds": rounds,
            "images": len(sample),
            "what": "detect + align + embed of the largest face, decoded image in memory",
            "statistic": "per image the fastest round; per configuration the median image",
        },
    )


def pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The configurations no other one beats on both time and accuracy, fastest first."""
    front, best = [], -1.0
    for r in sorted(rows, key=lambda r: (r["ms_per_face"], -r["accuracy"])):
        if r["accuracy"] > best:
            front.append(r)
            best = r["accuracy"]
    return front
