"""dlib's MMOD CNN face detector: more pose-tolerant than HOG, ~3 s per 640 px image on 2 cores."""

from __future__ import annotations

import threading
from typing import Any

from facewise import models
from facewise.detectors.base import downscale, scale_detection, suppress
from facewise.landmarks import DlibLandmarks
from facewise.lazy import Lazy
from facewise.types import BBox, Detection, Image


def _load() -> Any:
    import dlib

    return dlib.cnn_face_detection_model_v1(str(models.path("dlib-mmod")))


class MmodDetector:
    name = "mmod"

    def __init__(self, *, max_side: int = 1024, upsample: int = 0) -> None:
        self.max_side = max_side
        self.upsample = upsample
        self._detector = Lazy(_load)
        self._landmarks = DlibLandmarks()
        self._lock = threading.Lock()  # a dlib DNN keeps its activations: one call at a time

    def detect(self, image: Image) -> list[Detection]:
        small, scale = downscale(image, self.max_side)
        found = []
        detector = self._detector.get()
        with self._lock:
            hits = list(detector(small, self.upsample))
        for hit in hits:
            r = hit.rect
            box = BBox(float(r.left()), float(r.top()), float(r.right() + 1), float(r.bottom() + 1))
            found.append(Detection(box, float(hit.confidence), None, self.name))
        found = [scale_detection(d, scale, image.shape) for d in suppress(found)]
        return self._landmarks.attach(image, found)
