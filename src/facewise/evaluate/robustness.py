"""Robustness: verification when the probe image is degraded, against the clean operating point.

The second image of every pair (``path_b``, the probe) is degraded; the first stays clean (the
enrolled reference). Thresholds stay where the clean data put them — what a deployed system
does: accuracy uses, for each fold, the threshold chosen on the other folds' *clean* pairs; TAR
and FMR use the clean pairs' threshold at the target FAR. A degraded probe in which no face is
found fails: its pairs score −∞ (rejected) and the failures are counted.

Degradations (severity grids are defaults; any values can be asked for):

* ``resolution``: the face width in pixels. The image is shrunk (area averaging) so that the
  face found in the clean image is that wide, then enlarged back to its original size (bilinear)
  — the detail of a small face at the size the pipeline expects. Faces already narrower are left.
* ``jpeg``: JPEG re-encoding at the quality given (OpenCV, 4:2:0).
* ``blur``: Gaussian blur, sigma in pixels.
* ``noise``: additive Gaussian noise, sigma in grey levels (seeded per image).
* ``brightness``: every pixel multiplied by the gain (clipped to 0..255).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.errors import NoFaceFound
from facewise.evaluate import metrics
from facewise.evaluate.cache import Embedded, Pipeline, Progress, embed_images
from facewise.evaluate.datasets import DatasetError, PairSet
from facewise.evaluate.result import LabResult
from facewise.evaluate.verify import FARS, far_key
from facewise.settings import Settings, load_settings
from facewise.types import Image


@dataclass(frozen=True, slots=True)
class Kind:
    unit: str
    severities: tuple[float, ...]
    clean: float
    """The severity value that means "untouched" (drawn as the clean reference)."""
    worse_when_lower: bool
    log_axis: bool = False


KINDS: dict[str, Kind] = {
    "resolution": Kind("face width (px)", (64, 48, 32, 24, 16), 0, True),
    "jpeg": Kind("JPEG quality", (90, 70, 50, 30, 10), 100, True),
    "blur": Kind("Gaussian blur sigma (px)", (1, 2, 3, 4, 6), 0, False),
    "noise": Kind("Gaussian noise sigma (grey levels)", (5, 10, 20, 30, 40), 0, False),
    "brightness": Kind("brightness gain", (0.1, 0.25, 0.5, 1.5, 2.5), 1, False, True),
}


@dataclass(frozen=True, slots=True)
class Degradation:
    kind: str
    severity: float

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.severity:g}"

    def apply(self, image: Image, face_width: float | None, seed: int) -> Image:
        """The degraded copy of ``image`` (H, W, 3) uint8 RGB, same shape."""
        import cv2

        h, w = image.shape[:2]
        s = self.severity
        if self.kind == "resolution":
            if face_width is None or not np.isfinite(face_width) or face_width <= 0:
                raise NoFaceFound("no face in the clean image: its scale is unknown")
            scale = s / face_width
            if scale >= 1:
                return image
            small = cv2.resize(
                image,
                (max(1, round(w * scale)), max(1, round(h * scale))),
                interpolation=cv2.INTER_AREA,
            )
            return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
        if self.kind == "jpeg":
            ok, data = cv2.imencode(
                ".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(s)]
            )
            if not ok:
                raise NoFaceFound("JPEG encoding failed")
            decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
            if decoded is None:
                raise NoFaceFound("JPEG decoding failed")
            return np.ascontiguousarray(decoded[:, :, ::-1], dtype=np.uint8)
        if self.kind == "blur":
            return np.asarray(cv2.GaussianBlur(image, (0, 0), sigmaX=float(s)), dtype=np.uint8)
        if self.kind == "noise":
            noise = np.random.default_rng(seed).normal(0.0, float(s), image.shape)
            return np.clip(image + noise, 0, 255).astype(np.uint8)
        if self.kind == "brightness":
            lit: npt.NDArray[np.float32] = np.clip(image.astype(np.float32) * float(s), 0, 255)
            return lit.astype(np.uint8)
        raise DatasetError(f"unknown degradation {self.kind!r}; choose from {', '.join(KINDS)}")


@dataclass(frozen=True, kw_only=True, eq=False)
class RobustnessResult(LabResult):
    """Clean figures and one row per degradation and severity, in the order ``--json`` prints
    them."""

    kind = "robustness"
    dataset: dict[str, Any]
    pipeline: dict[str, Any]
    probe_side: str
    far: float
    far_key: str
    threshold: float
    probes: int
    clean_face_width_median: float | None
    clean: dict[str, Any]
    degradations: list[dict[str, Any]]


def parse_degradations(specs: Sequence[str]) -> list[Degradation]:
    """``["resolution:32,16", "jpeg"]`` -> degradations (a bare kind takes its default grid)."""
    out = []
    for spec in specs:
        kind, _, values = spec.partition(":")
        kind = kind.strip()
        if kind not in KINDS:
            raise DatasetError(f"unknown degradation {kind!r}; choose from {', '.join(KINDS)}")
        try:
            levels = [float(v) for v in values.split(",") if v.strip()] or KINDS[kind].severities
        except ValueError:
            raise DatasetError(f"{spec!r}: severities must be numbers, as in jpeg:50,10") from None
        out += [Degradation(kind, float(v)) for v in levels]
    return out


def _accuracy(
    scores: npt.NDArray[np.float64],
    pairs: PairSet,
    fold_thresholds: dict[int, float],
) -> tuple[float, float, int]:
    """(mean accuracy over folds, std, correct decisions) with fixed per-fold thresholds."""
    accs, correct = [], 0
    for fold, thr in fold_thresholds.items():
        test = pairs.folds == fold
        right = (scores[test] >= thr) == pairs.same[test]
        accs.append(float(right.mean()))
        correct += int(right.sum())
    return float(np.mean(accs)), float(np.std(accs)), correct


def _row(
    scores: npt.NDArray[np.float64],
    pairs: PairSet,
    folds: dict[int, float],
    far: float,
    threshold: float,
    probe_failed: int,
    probes: int,
) -> dict[str, Any]:
    """One condition's figures: accuracy at the clean fold thresholds, TAR at FAR with the
    threshold re-set on this condition's impostors, and TAR/FMR at the clean FAR threshold."""
    acc, std, correct = _accuracy(scores, pairs, folds)
    gen, imp = pairs.same, ~pairs.same
    n_gen, n_imp = int(gen.sum()), int(imp.sum())
    tar, own = metrics.tar_at_far(scores, pairs.same, far)
    accepted = scores >= threshold
    hits, false_matches = int((accepted & gen).sum()), int((accepted & imp).sum())
    return {
        "accuracy": acc,
        "accuracy_std": std,
        "accuracy_ci95": metrics.clopper_pearson(correct, len(pairs)),
        "tar_at_far": tar,
        "tar_at_far_ci95": metrics.clopper_pearson(round(tar * n_gen), n_gen),
        "threshold_at_far": own,
        "tar_clean_threshold": hits / n_gen,
        "fmr_clean_threshold": false_matches / n_imp,
        "fmr_clean_threshold_ci95": metrics.clopper_pearson(false_matches, n_imp),
        "failed_pairs": int((~np.isfinite(scores)).sum()),
        "failed_probes": probe_failed,
        "probe_failure_rate": probe_failed / probes if probes else 0.0,
    }


def run_robustness(
    pairs: PairSet,
    pipeline: Pipeline,
    *,
    degradations: Sequence[Degradation] | None = None,
    far: float | None = None,
    settings: Settings | None = None,
    cache_dir: Path | str | None = None,
    workers: int | None = None,
    progress: Callable[[str], Progress | None] | None = None,
) -> RobustnessResult:
    """Clean figures, then one row per degradation and severity. ``progress(label)`` may give a
    progress callback for each embedding run."""
    pairs.check_kfold()
    settings = settings or load_settings()
    todo = list(degradations) if degradations else parse_degradations(list(KINDS))
    n_imp = int((~pairs.same).sum())
    if far is None:
        far = next((f for f in sorted(FARS) if metrics.far_supported(n_imp, f)), None)
        if far is None:
            raise DatasetError(f"{n_imp} impostor pairs are too few for any FAR in {FARS}")
    elif not metrics.far_supported(n_imp, far):
        raise DatasetError(
            f"FAR {far:g} needs at least {metrics.min_impostors_for(far):,} impostor pairs; "
            f"there are {n_imp:,}"
        )

    def embed(images: list[str], degradation: Degradation | None, label: str) -> Embedded:
        widths = None
        if degradation is not None:
            widths = {
                p: float(clean.boxes[i, 2] - clean.boxes[i, 0]) for p, i in clean.index.items()
            }
        [out] = embed_images(
            pairs.root,
            images,
            [pipeline],
            cache_dir=cache_dir,
            settings=settings,
            workers=workers,
            degradation=degradation,
            face_widths=widths,
            progress=progress(label) if progress else None,
        )
        return out

    clean = embed(pairs.images(), None, "clean")
    ia = clean.rows(pairs.path_a)
    clean_scores = metrics.pair_scores(clean.vectors, ia, clean.rows(pairs.path_b))
    kfold = metrics.kfold_accuracy(clean_scores, pairs.same, pairs.folds)
    fold_thr = {int(f): t for f, t in zip(np.unique(pairs.folds), kfold.thresholds, strict=True)}
    _, threshold = metrics.tar_at_far(clean_scores, pairs.same, far)
    probes = sorted(set(pairs.path_b))
    clean_probe_fail = sum(1 for p in probes if clean.reasons[clean.index[p]])
    rows: dict[str, list[dict[str, Any]]] = {}
    for d in todo:
        got = embed(probes, d, d.key)
        n = len(pairs)
        stacked = np.vstack([clean.vectors[ia], got.vectors[got.rows(pairs.path_b)]])
        scores = metrics.pair_scores(stacked, np.arange(n), np.arange(n) + n)
        failed = sum(1 for p in probes if got.reasons[got.index[p]])
        rows.setdefault(d.kind, []).append(
            {
                "severity": d.severity,
                **_row(scores, pairs, fold_thr, far, threshold, failed, len(probes)),
            }
        )
    widths = clean.boxes[:, 2] - clean.boxes[:, 0]
    return RobustnessResult(
        dataset={**pairs.describe(), "notes": pairs.notes},
        pipeline={**pipeline.as_dict(), "space": clean.space.as_dict()},
        probe_side="path_b (the second image of each pair); path_a stays clean",
        far=far,
        far_key=far_key(far),
        threshold=threshold,
        probes=len(probes),
        clean_face_width_median=float(np.nanmedian(widths)) if np.isfinite(widths).any() else None,
        clean={
            "accuracy_kfold": kfold.mean,
            **_row(clean_scores, pairs, fold_thr, far, threshold, clean_probe_fail, len(probes)),
        },
        degradations=[
            {"kind": k, "unit": KINDS[k].unit, "rows": sorted(r, key=lambda x: x["severity"])}
            for k, r in rows.items()
        ],
    )
