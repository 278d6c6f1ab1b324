"""The bundled passive model on held-out NUAA subjects: verdicts, cost, results not exceptions,
and a runtime that needs no scikit-learn."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facewise import liveness, models
from facewise.engine import Engine
from facewise.errors import ImageDecodeError
from facewise.liveness.features import FeatureConfig, crop, features, lbp_codes
from facewise.liveness.model import bundled

from .conftest import TEST_SUBJECTS

pytestmark = [pytest.mark.models, pytest.mark.data]


def test_held_out_subjects_are_judged_at_the_shipped_threshold(
    sequences: dict[tuple[str, str], list[Path]], pad_engine: Engine
) -> None:
    live: list[liveness.Liveness] = []
    attack: list[liveness.Liveness] = []
    for (label, subject), paths in sequences.items():
        if subject not in TEST_SUBJECTS:
            continue
        for path in paths[::5]:
            results = pad_engine.liveness(str(path), largest=True)
            assert len(results) == 1
            (live if label == "live" else attack).append(results[0])
    assert len(live) == 10 and len(attack) == 12
    threshold = bundled().threshold
    assert all(r.threshold == threshold for r in live + attack)
    assert np.mean([r.live for r in live]) >= 0.9  # BPCER <= 10 %
    assert np.mean([r.live for r in attack]) <= 0.1  # APCER <= 10 %
    assert min(r.score for r in live) > max(r.score for r in attack) - 0.5


def test_per_face_cost_is_under_10_ms(
    sequences: dict[tuple[str, str], list[Path]], pad_engine: Engine
) -> None:
    image = pad_engine.load_image(str(sequences[("live", "0015")][0]))
    found = pad_engine.detector.detect(image)
    model = bundled()
    model.scores(image, found)
    start = time.perf_counter()
    for _ in range(50):
        model.scores(image, found[:1])
    assert (time.perf_counter() - start) / 50 < 0.010


def test_no_face_is_an_empty_list_and_bad_bytes_the_usual_error(pad_engine: Engine) -> None:
    assert pad_engine.liveness(np.full((120, 160, 3), 128, np.uint8)) == []
    with pytest.raises(ImageDecodeError):
        pad_engine.liveness(b"not an image")


def test_the_result_dict_is_the_documented_shape(
    sequences: dict[tuple[str, str], list[Path]], pad_engine: Engine
) -> None:
    (result,) = pad_engine.liveness(str(sequences[("spoof", "0016")][0]), largest=True)
    data = result.as_dict()
    assert list(data) == ["bbox", "live", "score", "threshold"]
    assert data["live"] is False and 0.0 <= data["score"] < data["threshold"]


def test_lbp_codes_match_a_direct_loop() -> None:
    rng = np.random.default_rng(0)
    plane = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    codes = lbp_codes(plane, 2)
    offsets = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))
    for y in range(2, 7):
        for x in range(2, 9):
            expect = sum(
                int(plane[y + 2 * dy, x + 2 * dx] >= plane[y, x]) << bit
                for bit, (dy, dx) in enumerate(offsets)
            )
            assert codes[y - 2, x - 2] == expect


def test_features_are_normalised_histograms(
    sequences: dict[tuple[str, str], list[Path]], pad_engine: Engine
) -> None:
    config = FeatureConfig()
    image = pad_engine.load_image(str(sequences[("live", "0015")][0]))
    box = pad_engine.detector.detect(image)[0].bbox
    vector = features(crop(image, box, config), config)
    assert vector.shape == (config.length,)
    sums = vector[: -config.bands].reshape(-1, 59).sum(axis=1)
    assert np.allclose(sums, 1.0) and np.isclose(vector[-config.bands :].sum(), 1.0)


def test_the_bundled_file_is_checked_and_states_its_data() -> None:
    info = models.info("liveness-nuaa-lbp")
    assert "NUAA" in info.training_data and "research" in info.licence
    assert models.path("liveness-nuaa-lbp").name == "liveness_nuaa_lbp.json"


def test_the_runtime_needs_no_scikit_learn(nuaa: Path) -> None:
    frame = next((nuaa / "images" / "live" / "0015").iterdir())
    code = (
        "import sys; from facewise import Engine\n"
        f"r = Engine().liveness({str(frame)!r}, largest=True)\n"
        "assert len(r) == 1, r\n"
        "assert not any(m.split('.')[0] == 'sklearn' for m in sys.modules), 'sklearn imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_check_gives_one_result_per_detection(
    sequences: dict[tuple[str, str], list[Path]], pad_engine: Engine
) -> None:
    image = pad_engine.load_image(str(sequences[("live", "0015")][0]))
    found = pad_engine.detector.detect(image)
    assert [r.bbox for r in liveness.check(image, found + found)] == [d.bbox for d in found * 2]
