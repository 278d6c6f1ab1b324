"""The detection stage: an image in, faces (box, score, 5 landmarks) out."""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from facewise.types import BBox, Detection, Image


class Detector(Protocol):
    name: str

    def detect(self, image: Image) -> list[Detection]:
        """Faces in ``image`` ((H, W, 3) uint8 RGB), highest score first; [] when there are none."""
        ...


def downscale(image: Image, max_side: int) -> tuple[Image, float]:
    """Shrink ``image`` so its longer side is at most ``max_side``; returns (image, scale) where
    scale maps the returned image's coordinates back to the input's (multiply by it)."""
    h, w = image.shape[:2]
    longest = max(h, w)
    if longest <= max_side:
        return image, 1.0
    factor = max_side / longest
    small = cv2.resize(image, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small), longest / max_side


def scale_detection(det: Detection, scale: float, shape: tuple[int, ...]) -> Detection:
    """Map a detection found on a rescaled image back by ``scale`` and clip it to ``shape``."""
    h, w = shape[:2]
    b = det.bbox
    box = BBox(
        max(0.0, b.x1 * scale),
        max(0.0, b.y1 * scale),
        min(float(w), b.x2 * scale),
        min(float(h), b.y2 * scale),
    )
    marks = None if det.landmarks is None else (det.landmarks * scale).astype(np.float32)
    return Detection(box, det.score, marks, det.detector, det.landmark_scheme)


def suppress(dets: list[Detection], iou: float = 0.4) -> list[Detection]:
    """Greedy non-maximum suppression: keep the best-scoring of boxes that overlap above ``iou``."""
    kept: list[Detection] = []
    for det in sorted(dets, key=lambda d: -d.score):
        if all(det.bbox.iou(k.bbox) < iou for k in kept):
            kept.append(det)
    return kept
