from __future__ import annotations

import pytest

from facewise.errors import UnknownName
from facewise.registry import create_detector, create_embedder
from facewise.settings import Settings
from facewise.types import BBox


def test_bbox_geometry() -> None:
    a, b = BBox(0, 0, 10, 10), BBox(5, 0, 15, 10)
    assert a.area == 100 and a.center == (5, 5)
    assert a.iou(b) == pytest.approx(50 / 150)
    assert a.iou(BBox(20, 20, 30, 30)) == 0.0


@pytest.mark.parametrize("name", ["nope", "hog+nope", ""])
def test_unknown_detector_names_are_clear_errors(name: str) -> None:
    with pytest.raises(UnknownName, match="hog"):
        create_detector(name, Settings())


def test_unknown_embedder_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownName, match="dlib-resnet"):
        create_embedder("arcface", Settings())


def test_cascade_name() -> None:
    assert create_detector("hog+mtcnn", Settings()).name == "hog+mtcnn"
