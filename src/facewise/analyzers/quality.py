"""Face image quality: one score in [0, 1] that predicts how far a face can be trusted for
recognition, with the factors it is made of.

Measurements, all on the face in its image (no model beyond dlib's 68 landmarks):

* ``eye_distance``: pixels between the eye centres (means of the 68-point eye contours);
* ``sharpness``: variance of the Laplacian of the face region (the box around the 68 landmarks)
  in grey, after resizing it to 64 x 64 px (INTER_AREA) and scaling it to zero mean and unit
  standard deviation, so that neither face size nor contrast changes it, only detail;
* ``brightness`` (mean grey, 0-1), ``clipped`` (share of pixels <= 5 or >= 250) and
  ``contrast`` (grey standard deviation, 0-1) of that region;
* ``yaw``, ``pitch``: head pose in degrees (:class:`facewise.analyzers.pose.PoseAnalyzer`);
* the detector's own score, mapped per detector (HOG: SVM margin; MTCNN: probability).

Factors, each in [0, 1] (``ramp(v, a, b)`` rises linearly from 0 at a to 1 at b, clipped):

* size = ramp(log(eye_distance), log 8, log 32): below 8 px between the eyes a face is
  unusable, from 32 px on size costs nothing (LFW faces: 36-51 px);
* sharpness = ramp(log(sharpness), log 0.01, log 0.06), from how the dlib ResNet's false
  non-match rate (at the calibrated "accuracy" threshold) grows when one face of a genuine pair
  is degraded: on 182 LFW pairs that no LFW protocol pair uses, it stays 1-2% down to a median
  sharpness of ~0.05 (Gaussian blur sigma 2 px, or shrinking 4x and enlarging back), is 5-13%
  at ~0.03 (sigma 3; 6x), 18-37% at ~0.02 (sigma 4; 8x) and 59% at 0.011 (sigma 6). Undegraded
  LFW faces measure a median of 0.25 (5th percentile 0.11), so the factor is 1 for 99.5% of them;
* exposure = ramp(clipped, 0.3, 0.05) * ramp(|brightness - 0.5|, 0.45, 0.25)
  * ramp(contrast, 0.02, 0.08): little clipping, not too dark or bright, some contrast;
* pose = ramp(|yaw|, 60, 15) * ramp(|pitch|, 45, 15): frontal within 15 degrees is free;
* detector = HOG: ramp(score, -0.5, 1.0) (LFW faces: 1st percentile 0.35, median 1.4);
  MTCNN: ramp(score, 0.7, 0.95); other detectors and whole-image boxes (``detector == "none"``):
  factor left out.

quality = the product of the factors present, each raised to its weight (size 1, sharpness 1,
exposure 1, pose 1, detector 0.5). Each factor reads as "how usable the face is in this one
respect", so any single shortfall counts in full (a sharp face 5 px wide is still useless), and
a face that is fine in every respect scores 1.

Its worth is shown by :func:`error_versus_discard`: on the 3,000 LFW View-2 pairs (folds 1-5,
default Engine: dlib-resnet, hog+mtcnn, flip; "accuracy" threshold 0.9086), discarding the pairs
whose worse face scores lowest lowers the false non-match rate, while the false match rate stays
put (discarding pairs at random leaves the FNMR at 1.53%):

=========  =====  ======================  ======
discarded  pairs  FNMR (misses/genuine)   FMR
=========  =====  ======================  ======
0%         3000   1.53% (23/1500)         1.47%
5%         2850   0.98% (14/1424)         1.47%
10%        2700   0.82% (11/1344)         1.40%
20%        2400   0.67% (8/1202)          1.42%
30%        2100   0.56% (6/1068)          1.55%
=========  =====  ======================  ======

On these (good, mostly frontal) photos the pose factor does most of the work; sharpness, size
and exposure matter for degraded input, which LFW has little of. The anchors were not fitted to
these pairs: sharpness from the degradation experiment above, the HOG anchors from
LFW images outside the pairs, the rest a priori.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.analyzers.pose import PoseAnalyzer, solve_pose
from facewise.compare import OperatingPoint, threshold
from facewise.types import Detection, Image

WEIGHTS = {"size": 1.0, "sharpness": 1.0, "exposure": 1.0, "pose": 1.0, "detector": 0.5}
CROP = 64
"""Side (px) the face region is resized to before sharpness is measured."""


def ramp(value: float, zero: float, one: float) -> float:
    """0 at ``zero``, 1 at ``one``, linear between, clipped (``zero > one``: a falling ramp)."""
    return float(min(1.0, max(0.0, (value - zero) / (one - zero))))


def face_region(image: Image, marks: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint8]:
    """The grey (H, W) uint8 pixels of the box around the 68 landmarks, clipped to the image."""
    import cv2

    h, w = image.shape[:2]
    x1, y1 = np.floor(marks.min(axis=0)).astype(int)
    x2, y2 = np.ceil(marks.max(axis=0)).astype(int) + 1
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return np.zeros((0, 0), dtype=np.uint8)
    crop = np.ascontiguousarray(image[y1:y2, x1:x2])
    return np.asarray(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def measurements(
    image: Image, detection: Detection, marks: npt.NDArray[np.floating[Any]]
) -> dict[str, float]:
    """The raw measurements (see the module docstring) of one face with its 68 landmarks."""
    import cv2

    h, w = image.shape[:2]
    eyes = float(np.linalg.norm(marks[42:48].mean(axis=0) - marks[36:42].mean(axis=0)))
    grey = face_region(image, marks)
    if grey.size == 0:
        return {
            "eye_distance": eyes,
            "sharpness": 0.0,
            "brightness": 0.0,
            "clipped": 1.0,
            "contrast": 0.0,
            "yaw": 0.0,
            "pitch": 0.0,
        }
    values = grey.astype(np.float64) / 255.0
    small = cv2.resize(grey, (CROP, CROP), interpolation=cv2.INTER_AREA).astype(np.float64)
    std = small.std()
    sharp = float(cv2.Laplacian((small - small.mean()) / std, cv2.CV_64F).var()) if std > 0 else 0
    yaw, pitch, _ = solve_pose(marks, h, w)
    return {
        "eye_distance": eyes,
        "sharpness": sharp,
        "brightness": float(values.mean()),
        "clipped": float(np.mean((grey <= 5) | (grey >= 250))),
        "contrast": float(values.std()),
        "yaw": yaw,
        "pitch": pitch,
    }


def detector_factor(detection: Detection) -> float | None:
    """The detector's score mapped to [0, 1], or None for detectors without a mapping."""
    name = detection.detector.split("+")[-1]
    if name == "hog":
        return ramp(detection.score, -0.5, 1.0)
    if name == "mtcnn":
        return ramp(detection.score, 0.7, 0.95)
    return None


def factors(measured: dict[str, float], detection: Detection) -> dict[str, float]:
    """Each factor in [0, 1] from :func:`measurements` (see the module docstring)."""
    out = {
        "size": ramp(math.log(max(measured["eye_distance"], 1e-6)), math.log(8), math.log(32)),
        "sharpness": ramp(
            math.log(max(measured["sharpness"], 1e-6)), math.log(0.01), math.log(0.06)
        ),
        "exposure": ramp(measured["clipped"], 0.3, 0.05)
        * ramp(abs(measured["brightness"] - 0.5), 0.45, 0.25)
        * ramp(measured["contrast"], 0.02, 0.08),
        "pose": ramp(abs(measured["yaw"]), 60, 15) * ramp(abs(measured["pitch"]), 45, 15),
    }
    det = detector_factor(detection)
    if det is not None:
        out["detector"] = det
    return out


def combine(parts: dict[str, float]) -> float:
    """The product of the factors present, each raised to its weight in :data:`WEIGHTS`."""
    return float(math.prod(v ** WEIGHTS[k] for k, v in parts.items()))


class QualityAnalyzer:
    """A face-image quality score in [0, 1] and its factors; see the module docstring."""

    name = "quality"

    def __init__(self) -> None:
        self._pose = PoseAnalyzer()

    def score(self, image: Image, detection: Detection) -> float:
        """The quality of one face, in [0, 1] (unrounded)."""
        marks = self._pose.landmarks(image, detection)
        return combine(factors(measurements(image, detection, marks), detection))

    def analyze(self, image: Image, detection: Detection) -> dict[str, Any]:
        """``{"quality": q in [0, 1] (3 decimals), "quality_factors": {name: [0, 1]},
        "quality_measurements": {eye_distance px, sharpness, brightness, clipped, contrast,
        yaw and pitch degrees}}``."""
        marks = self._pose.landmarks(image, detection)
        measured = measurements(image, detection, marks)
        parts = factors(measured, detection)
        return {
            "quality": round(combine(parts), 3),
            "quality_factors": {k: round(v, 3) for k, v in parts.items()},
            "quality_measurements": {k: round(v, 3) for k, v in measured.items()},
        }


def error_versus_discard(
    pairs_csv: str | Path,
    *,
    engine: Any = None,
    fractions: Sequence[float] = (0.0, 0.05, 0.10, 0.20, 0.30),
    operating_point: OperatingPoint = "accuracy",
    limit: int | None = None,
) -> list[dict[str, float]]:
    """Error-versus-discard on a verification pair list (LFW ``pairs.csv``: columns path_a, path_b,
    same_identity; paths relative to the file's folder).

    Each image is represented with ``engine`` (default ``facewise.Engine()``): its largest face,
    and that face's quality. A pair's quality is the lower of its two. For each fraction x, the
    x lowest-quality pairs are discarded and the false non-match rate (genuine pairs scored
    below the threshold of ``engine.space`` at ``operating_point``) and the false match rate are
    counted over the rest. A face that is not detected counts as quality 0 and, while kept, as a
    non-match. Returns one row per fraction: ``{"discard", "pairs", "genuine", "impostor",
    "fnmr", "fmr", "min_quality"}``. ``limit`` takes every k-th pair to keep about that many."""
    from facewise.engine import Engine

    folder = Path(pairs_csv).parent
    with Path(pairs_csv).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if limit:
        rows = rows[:: max(1, len(rows) // limit)][:limit]
    engine = engine or Engine()
    analyzer = QualityAnalyzer()
    limit_score = threshold(engine.space, operating_point)
    cache: dict[str, tuple[Any, float]] = {}

    def represent(relpath: str) -> tuple[Any, float]:
        if relpath not in cache:
            image = engine.load_image(folder / relpath)
            faces = engine.embed(image, largest=True)
            if not faces:
                cache[relpath] = (None, 0.0)
            else:
                face = faces[0]
                cache[relpath] = (face.embedding.vector, analyzer.score(image, face.detection))
        return cache[relpath]

    scores, qualities, genuine = [], [], []
    for row in rows:
        (va, qa), (vb, qb) = represent(row["path_a"]), represent(row["path_b"])
        scores.append(-np.inf if va is None or vb is None else float(np.dot(va, vb)))
        qualities.append(min(qa, qb))
        genuine.append(row["same_identity"] == "1")
    score_arr, quality_arr, genuine_arr = np.array(scores), np.array(qualities), np.array(genuine)
    order = np.argsort(quality_arr, kind="stable")
    out = []
    for fraction in fractions:
        kept = order[round(fraction * len(order)) :]
        g, i = kept[genuine_arr[kept]], kept[~genuine_arr[kept]]
        out.append(
            {
                "discard": float(fraction),
                "pairs": len(kept),
                "genuine": len(g),
                "impostor": len(i),
                "fnmr": float(np.mean(score_arr[g] < limit_score)) if len(g) else float("nan"),
                "fmr": float(np.mean(score_arr[i] >= limit_score)) if len(i) else float("nan"),
                "min_quality": float(quality_arr[kept].min()) if len(kept) else float("nan"),
            }
        )
    return out
