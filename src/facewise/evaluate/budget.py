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
from facewise.evaluate.report import (
    PALETTE,
    Card,
    Evaluation,
    Report,
    figures,
    fmt,
    jsonable,
    pct,
    plot,
    table,
)
from facewise.evaluate.verify import score_pairs
from facewise.settings import Settings, load_settings

TIERS_MS = (100, 500, 1000)
DETECTORS = ("hog", "mtcnn", "hog+mtcnn")
EMBEDDERS = ("dlib-resnet", "facenet")


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
) -> Evaluation:
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
    data = jsonable(
        {
            "kind": "budget",
            "dataset": {**pairs.describe(), "notes": pairs.notes},
            "tiers_ms": sorted(tiers_ms),
            "tiers": tiers,
            "configs": rows,
            "timing": {
                "threads": threads,
                "rounds": rounds,
                "images": len(sample),
                "what": "detect + align + embed of the largest face, decoded image in memory",
                "statistic": "per image the fastest round; per configuration the median image",
            },
        }
    )
    return Evaluation("budget", data, lambda: budget_report(data))


def pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The configurations no other one beats on both time and accuracy, fastest first."""
    front, best = [], -1.0
    for r in sorted(rows, key=lambda r: (r["ms_per_face"], -r["accuracy"])):
        if r["accuracy"] > best:
            front.append(r)
            best = r["accuracy"]
    return front


def budget_report(data: dict[str, Any]) -> Report:
    rows = data["configs"]
    report = Report(
        "Accuracy within a time budget",
        f"{len(rows)} configurations — {data['dataset']['source']}, "
        f"{data['dataset']['pairs']:,} pairs; time per face on this machine, "
        f"{data['timing']['threads']} thread(s)",
        data,
    )
    for tier, best in data["tiers"].items():
        report.cards.append(
            Card(
                f"≤ {tier} ms",
                pct(best["accuracy"]) if best else "none",
                f"{best['config']} ({best['ms_per_face']:.0f} ms)" if best else "nothing fits",
            )
        )
    fastest = min(rows, key=lambda r: r["ms_per_face"])
    top = max(rows, key=lambda r: (r["accuracy"], -r["ms_per_face"]))
    report.verdict = (
        f"Most accurate: {top['config']} ({pct(top['accuracy'])}, {top['ms_per_face']:.0f} ms per "
        f"face); fastest: {fastest['config']} ({fastest['ms_per_face']:.0f} ms, "
        f"{pct(fastest['accuracy'])})."
    )
    slowest = max(r["ms_per_face"] for r in rows)
    first_tier = min(data["tiers_ms"], default=None)
    if first_tier is not None and slowest <= first_tier:
        report.verdict += (
            f" Every configuration takes at most {first_tier} ms per face here, so the tiers "
            "do not separate them on this machine."
        )
    front = pareto(rows)

    combos = sorted({(r["embedder"], r["flip"]) for r in rows})
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(combos)}
    marks = ["o", "s", "^", "D", "v", "P"]
    dets = sorted({r["detector"] for r in rows})
    marker = {d: marks[i % len(marks)] for i, d in enumerate(dets)}

    def draw(ax: Any) -> None:
        for r in rows:
            ax.scatter(
                r["ms_per_face"],
                r["accuracy"],
                s=44,
                zorder=3,
                alpha=0.85,
                color=colour[(r["embedder"], r["flip"])],
                marker=marker[r["detector"]],
            )
        for r in front:
            ax.annotate(
                r["config"],
                (r["ms_per_face"], r["accuracy"]),
                fontsize=7,
                xytext=(5, -10),
                textcoords="offset points",
            )
        ax.plot(
            [r["ms_per_face"] for r in front],
            [r["accuracy"] for r in front],
            color="k",
            lw=1,
            alpha=0.4,
            label="best trade-offs",
        )
        for (emb, flip), c in colour.items():
            ax.scatter([], [], color=c, label=f"{emb}, flip {'on' if flip else 'off'}")
        for d, m in marker.items():
            ax.scatter([], [], color="#57606a", marker=m, label=f"detector {d}")
        for tier in data["tiers_ms"]:
            ax.axvline(tier, color="#8c959f", ls="--", lw=1)
            ax.text(tier, 0.02, f" {tier} ms", fontsize=8, transform=ax.get_xaxis_transform())
        ax.set_xscale("log")
        low = min(r["ms_per_face"] for r in rows) * 0.7
        high = max(max(data["tiers_ms"]) * 1.3, max(r["ms_per_face"] for r in rows) * 1.5)
        ax.set_xlim(low, high)
        ax.set_xlabel("ms per face (detect + align + embed)")
        ax.set_ylabel("k-fold accuracy")
        ax.set_title("Accuracy against time per face")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))

    report.section(
        "Accuracy against time per face",
        figures(plot(draw, "accuracy vs time", width=10.4, height=5.0)),
    )
    report.section(
        "Tiers",
        table(
            ["budget", "best configuration", "accuracy", "ms per face"],
            [
                [
                    f"≤ {t} ms",
                    b["config"] if b else "none fits",
                    pct(b["accuracy"]) if b else "—",
                    fmt(b["ms_per_face"], 1) if b else "—",
                ]
                for t, b in data["tiers"].items()
            ],
        ),
    )
    report.section(
        "All configurations",
        table(
            [
                "configuration",
                "accuracy",
                "± std",
                "ms per face",
                "p90 ms",
                "failed pairs",
                "images without a face",
            ],
            [
                [
                    r["config"],
                    pct(r["accuracy"]),
                    pct(r["accuracy_std"]),
                    fmt(r["ms_per_face"], 1),
                    fmt(r["ms_p90"], 1),
                    r["failed_pairs"],
                    r["failed_images"],
                ]
                for r in sorted(rows, key=lambda r: r["ms_per_face"])
            ],
        ),
    )
    t = data["timing"]
    report.notes = [
        f"Time: {t['what']}; {t['threads']} inference thread(s), one process, {t['images']} "
        f"images, {t['rounds']} interleaved rounds; {t['statistic']}. Times depend on this "
        "machine and on what else ran on it.",
        "Accuracy: k-fold protocol on the pairs (threshold chosen on the other folds); a pair "
        "without a face on a side is a rejection.",
        "A tier's best: the most accurate configuration whose median time per face is within it.",
        *data["dataset"].get("notes", []),
    ]
    return report
