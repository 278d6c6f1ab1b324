"""Detectors on real photos: recall on the annotated Pascal VOC faces; the pyramid policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewise import Engine
from facewise.io import load_image
from facewise.registry import create_detector
from facewise.settings import Settings
from facewise.types import BBox
from testdata import read_csv

pytestmark = [pytest.mark.models, pytest.mark.data]


def recall(detector_name: str, voc: Path, min_iou: float = 0.3) -> tuple[float, int, int]:
    """(recall, found, annotated) over every non-ignored box in boxes.csv."""
    detector = create_detector(detector_name, Settings())
    rows = [r for r in read_csv(voc / "boxes.csv") if r["ignore"] == "0"]
    hits = 0
    false_pos = 0
    for name in sorted({r["image"] for r in rows}):
        truth = [
            BBox(
                float(r["x"]),
                float(r["y"]),
                float(r["x"]) + float(r["w"]),
                float(r["y"]) + float(r["h"]),
            )
            for r in rows
            if r["image"] == name
        ]
        found = detector.detect(load_image(voc / name))
        hits += sum(any(t.iou(d.bbox) >= min_iou for d in found) for t in truth)
        false_pos += sum(all(t.iou(d.bbox) < min_iou for t in truth) for d in found)
    return hits / len(rows), hits, false_pos


@pytest.mark.parametrize(("name", "floor"), [("hog", 0.85), ("mtcnn", 0.85)])
def test_recall_on_annotated_scenes(voc: Path, name: str, floor: float) -> None:
    rate, hits, false_pos = recall(name, voc)
    assert rate >= floor, f"{name}: recall {rate:.3f} ({hits} faces)"
    assert false_pos <= 3, f"{name}: {false_pos} detections match no annotated face"


def test_every_detection_has_five_landmarks_inside_its_box(
    engine: Engine, group_photo: Path
) -> None:
    found = engine.detect(group_photo)
    assert len(found) >= 5
    for det in found:
        assert det.landmarks is not None and det.landmarks.shape == (5, 2)
        b = det.bbox
        margin = 0.3 * b.width
        assert np.all(det.landmarks[:, 0] >= b.x1 - margin)
        assert np.all(det.landmarks[:, 0] <= b.x2 + margin)


def test_portrait_is_not_upsampled_but_group_photo_is(face_photo: Path, group_photo: Path) -> None:
    detector = create_detector("hog", Settings())
    calls: list[int] = []
    original = detector._pass  # type: ignore[attr-defined]

    def counting(image, upsample):  # type: ignore[no-untyped-def]
        calls.append(upsample)
        return original(image, upsample)

    detector._pass = counting  # type: ignore[attr-defined]
    assert len(detector.detect(load_image(face_photo))) == 1
    assert calls == [0]
    calls.clear()
    found = detector.detect(load_image(group_photo))
    assert calls == [0, 1]
    assert len(found) >= 6  # the 37 px faces need the upsampled pass


def test_large_image_is_downscaled_and_boxes_map_back(face_photo: Path) -> None:
    image = load_image(face_photo)
    big = np.kron(image, np.ones((12, 12, 1), dtype=np.uint8))  # 3000 x 3000, face ~1250 px
    detector = create_detector("hog", Settings(max_side=1024))
    [small_face] = detector.detect(image)
    [big_face] = detector.detect(big)
    expected = BBox(
        *(
            12 * v
            for v in (
                small_face.bbox.x1,
                small_face.bbox.y1,
                small_face.bbox.x2,
                small_face.bbox.y2,
            )
        )
    )
    assert big_face.bbox.iou(expected) > 0.8


def test_cascade_falls_back_when_first_detector_finds_nothing(lfw: Path) -> None:
    # A profile-ish LFW photo that dlib's frontal HOG misses (found by scanning the pairs).
    hog = create_detector("hog", Settings())
    cascade = create_detector("hog+mtcnn", Settings())
    missed = None
    for row in read_csv(lfw / "pairs.csv")[:600]:
        image = load_image(lfw / row["path_a"])
        if not hog.detect(image):
            missed = image
            break
    assert missed is not None, "HOG found every face in 600 LFW images"
    found = cascade.detect(missed)
    assert found and found[0].detector == "mtcnn"


def test_tiny_and_blank_images_give_no_faces() -> None:
    for name in ("hog", "mtcnn"):
        detector = create_detector(name, Settings())
        assert detector.detect(np.zeros((8, 8, 3), dtype=np.uint8)) == []
        assert detector.detect(np.full((300, 300, 3), 127, dtype=np.uint8)) == []
