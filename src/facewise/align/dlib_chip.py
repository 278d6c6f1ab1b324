"""dlib's face chip: the similarity transform of the 5-point landmarks that the ResNet was trained
on (150 x 150 px, padding 0.25), exactly as ``dlib.get_face_chip`` makes it."""

from __future__ import annotations

import numpy as np

from facewise.landmarks import DlibLandmarks
from facewise.types import AlignedFace, Detection, Image


class DlibChipAligner:
    name = "dlib-chip-150-0.25"

    def __init__(self, size: int = 150, padding: float = 0.25) -> None:
        self.size = size
        self.padding = padding
        self._landmarks = DlibLandmarks(5)

    def align(self, image: Image, detection: Detection) -> AlignedFace:
        import dlib

        shape = self._landmarks.shape(image, detection)
        pixels = np.asarray(dlib.get_face_chip(image, shape, self.size, self.padding))
        details = dlib.get_face_chip_details(shape, self.size, self.padding)
        rect = details.rect
        scale = details.cols / (rect.right() - rect.left())
        cos, sin = np.cos(details.angle), np.sin(details.angle)
        rot = scale * np.array([[cos, sin], [-sin, cos]])
        centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
        shift = np.array([(details.cols - 1) / 2, (details.rows - 1) / 2]) - rot @ centre
        transform = np.hstack([rot, shift[:, None]])
        return AlignedFace(np.ascontiguousarray(pixels), transform, detection, self.name)
