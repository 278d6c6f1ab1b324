"""dlib shape predictors: 5 points (CC0, used for alignment) and 68 points (non-commercial)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise import models
from facewise.lazy import Lazy
from facewise.types import BBox, Detection, Image


def to_rect(box: BBox) -> Any:
    import dlib

    return dlib.rectangle(round(box.x1), round(box.y1), round(box.x2) - 1, round(box.y2) - 1)


class DlibLandmarks:
    """Fits dlib's shape predictor inside a face box. ``points`` is 5 or 68."""

    def __init__(self, points: int = 5) -> None:
        if points not in (5, 68):
            raise ValueError("points must be 5 or 68")
        self.points = points
        self._predictor = Lazy(self._load)

    def _load(self) -> Any:
        import dlib

        return dlib.shape_predictor(str(models.path(f"dlib-{self.points}pt")))

    def fit(self, image: Image, box: BBox) -> npt.NDArray[np.float32]:
        """Landmarks of the face in ``box``: float32 (points, 2), pixel coordinates (x, y)."""
        shape = self._predictor.get()(image, to_rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def attach(self, image: Image, dets: list[Detection]) -> list[Detection]:
        """The detections with dlib 5-point landmarks fitted (requires ``points == 5``)."""
        return [
            dataclasses.replace(d, landmarks=self.fit(image, d.bbox), landmark_scheme="dlib5")
            for d in dets
        ]

    def shape(self, image: Image, detection: Detection) -> Any:
        """A ``dlib.full_object_detection`` for the detection: its own dlib 5-point landmarks
        when it has them, else the predictor fitted inside its box (requires ``points == 5``)."""
        import dlib

        marks = detection.landmarks
        if marks is None or detection.landmark_scheme != "dlib5":
            marks = self.fit(image, detection.bbox)
        points = [dlib.point(round(float(x)), round(float(y))) for x, y in marks]
        return dlib.full_object_detection(to_rect(detection.bbox), points)
