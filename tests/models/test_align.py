"""Alignment: each embedder's crop, and transforms that map image points into the crop."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facewise.align.dlib_chip import DlibChipAligner
from facewise.align.margin_crop import MarginCropAligner
from facewise.io import load_image
from facewise.registry import create_detector
from facewise.settings import Settings

pytestmark = [pytest.mark.models, pytest.mark.data]


def rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("degrees", [0, 15, -15])
def test_dlib_chip_levels_the_eyes_of_a_tilted_face(face_photo: Path, degrees: float) -> None:
    image = rotated(load_image(face_photo), degrees)
    [det] = create_detector("hog+mtcnn", Settings()).detect(image)
    aligned = DlibChipAligner().align(image, det)
    assert aligned.pixels.shape == (150, 150, 3) and aligned.pixels.dtype == np.uint8
    assert det.landmark_scheme == "dlib5" and det.landmarks is not None
    marks = np.c_[det.landmarks, np.ones(5)] @ aligned.transform.T
    left_eye, right_eye = marks[2:4].mean(axis=0), marks[0:2].mean(axis=0)
    # unaligned, a 15 degree tilt puts one eye ~18 px above the other at this scale
    assert abs(left_eye[1] - right_eye[1]) < 5, f"eyes not level in the chip: {marks[:4]}"
    assert np.all((marks > 0) & (marks < 150))
    # the transform reproduces the chip: warping with it gives (nearly) dlib's own pixels
    warped = cv2.warpAffine(image, aligned.transform, (150, 150), flags=cv2.INTER_LINEAR)
    assert np.abs(warped.astype(float) - aligned.pixels).mean() < 6


def test_margin_crop_grows_the_box_and_maps_it(face_photo: Path) -> None:
    image = load_image(face_photo)
    [det] = create_detector("mtcnn", Settings()).detect(image)
    aligned = MarginCropAligner(160, 0.15).align(image, det)
    assert aligned.pixels.shape == (160, 160, 3)
    b = det.bbox
    corners = np.array([[b.x1, b.y1, 1], [b.x2, b.y2, 1]]) @ aligned.transform.T
    assert np.all(corners[0] > 0) and np.all(corners[1] < 160)  # the box sits inside the margin


def test_face_at_the_image_edge_still_aligns(face_photo: Path) -> None:
    image = load_image(face_photo)[60:, 70:]  # the face touches the top-left border
    found = create_detector("hog+mtcnn", Settings()).detect(np.ascontiguousarray(image))
    assert found
    for aligner in (DlibChipAligner(), MarginCropAligner()):
        out = aligner.align(np.ascontiguousarray(image), found[0])
        assert out.pixels.shape[:2] == (aligner.size, aligner.size)
