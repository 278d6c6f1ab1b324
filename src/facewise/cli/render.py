"""Pictures for the CLI's ``--draw``: boxes, labels and landmarks on a copy of the image."""

from __future__ import annotations

import cv2
import numpy as np

from facewise.types import Detection, Image


def draw(image: Image, detections: list[Detection], labels: list[str] | None = None) -> Image:
    """A copy of ``image`` with boxes, scores (or ``labels``) and landmarks drawn (RGB uint8)."""
    canvas = np.ascontiguousarray(image.copy())
    thick = max(1, round(max(image.shape[:2]) / 400))
    for i, det in enumerate(detections):
        b = det.bbox
        cv2.rectangle(
            canvas, (round(b.x1), round(b.y1)), (round(b.x2), round(b.y2)), (0, 255, 0), thick
        )
        cv2.putText(
            canvas,
            labels[i] if labels else f"{det.score:.2f}",
            (round(b.x1), max(10, round(b.y1) - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4 * thick,
            (0, 255, 0),
            thick,
        )
        if det.landmarks is not None:
            for x, y in det.landmarks:
                cv2.circle(canvas, (round(float(x)), round(float(y))), thick + 1, (255, 0, 0), -1)
    return canvas
