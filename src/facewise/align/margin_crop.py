"""FaceNet's preprocessing (Sandberg's facenet): the detector box grown by a margin, cropped and
resized to 160 x 160 px without rotation, as its LFW models were trained and validated."""

from __future__ import annotations

import cv2
import numpy as np

from facewise.types import AlignedFace, Detection, Image


class MarginCropAligner:
    name = "margin-crop-160"

    def __init__(self, size: int = 160, margin: float = 0.15) -> None:
        self.size = size
        self.margin = margin
        """Total margin as a fraction of the box's width and height (split between both sides)."""

    def align(self, image: Image, detection: Detection) -> AlignedFace:
        h, w = image.shape[:2]
        b = detection.bbox
        mx, my = b.width * self.margin / 2, b.height * self.margin / 2
        x1, y1 = max(0, round(b.x1 - mx)), max(0, round(b.y1 - my))
        x2, y2 = min(w, round(b.x2 + mx)), min(h, round(b.y2 + my))
        x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
        crop = image[y1:y2, x1:x2]
        pixels = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        sx, sy = self.size / (x2 - x1), self.size / (y2 - y1)
        transform = np.array([[sx, 0.0, -x1 * sx], [0.0, sy, -y1 * sy]])
        return AlignedFace(np.ascontiguousarray(pixels), transform, detection, self.name)
