"""`facewise eval robustness`: degradations applied to real probes, thresholds from the clean
pairs, failures to detect counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewise import NoFaceFound
from facewise.evaluate.datasets import DatasetError, load_pairs
from facewise.evaluate.metrics import kfold_accuracy
from facewise.evaluate.robustness import Degradation, parse_degradations

from .conftest import Run

pytestmark = [pytest.mark.models, pytest.mark.data]


def test_robustness_rows(robustness_run: Run, scores: list[dict[str, str]], lfw: Path) -> None:
    d = robustness_run.data
    pairs = load_pairs(lfw / "pairs.csv").select(limit=100)
    assert d["dataset"]["pairs"] == 100 and d["probes"] == len(set(pairs.path_b))
    # the clean row is the verification of these 100 pairs (scores from the verify run)
    by_pair = {(r["path_a"], r["path_b"]): float(r["score"]) for r in scores}
    s = np.array([by_pair[k] for k in zip(pairs.path_a, pairs.path_b, strict=True)])
    clean = kfold_accuracy(s, pairs.same, pairs.folds)
    assert d["clean"]["accuracy"] == pytest.approx(clean.mean)
    assert d["clean"]["accuracy_kfold"] == pytest.approx(clean.mean)
    assert d["far_key"] == "0.1"  # 50 impostor pairs support no lower FAR
    kinds = {x["kind"]: x["rows"] for x in d["degradations"]}
    assert set(kinds) == {"resolution", "blur"}
    for rows_ in kinds.values():
        [row] = rows_
        assert 0 <= row["failed_probes"] <= d["probes"]
        assert row["failed_pairs"] >= row["failed_probes"] > 0 or row["failed_probes"] == 0
        lo, hi = row["tar_at_far_ci95"]
        assert lo <= row["tar_at_far"] <= hi
    # a 16-pixel face loses detail: genuine and impostor scores move together, so at the
    # clean threshold more impostors pass
    low = kinds["resolution"][0]
    assert low["severity"] == 16
    assert low["fmr_clean_threshold"] > d["clean"]["fmr_clean_threshold"]


def test_degradations_change_the_image(face_photo: Path, engine) -> None:  # type: ignore[no-untyped-def]
    image = engine.load_image(face_photo)
    width = engine.largest_face(face_photo).bbox.width
    for d in parse_degradations(
        ["resolution:24", "jpeg:10", "blur:3", "noise:20", "brightness:0.25"]
    ):
        out = d.apply(image, width, seed=7)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - image).mean() > 1, d.key
        assert np.array_equal(out, d.apply(image, width, seed=7))  # reproducible
    small = Degradation("resolution", 24).apply(image, width, 0)
    # shrinking to a 24 px face removes fine detail: less high-frequency energy
    assert (
        np.abs(np.diff(small.astype(float), axis=1)).mean()
        < np.abs(np.diff(image.astype(float), axis=1)).mean()
    )
    assert np.array_equal(Degradation("resolution", 400).apply(image, width, 0), image)
    with pytest.raises(NoFaceFound):
        Degradation("resolution", 24).apply(image, None, 0)


def test_bad_degradation_specs() -> None:
    with pytest.raises(DatasetError, match="unknown degradation 'fog'"):
        parse_degradations(["fog:3"])
    with pytest.raises(DatasetError, match="must be numbers"):
        parse_degradations(["jpeg:high"])
    assert [d.key for d in parse_degradations(["jpeg"])] == [
        "jpeg:90",
        "jpeg:70",
        "jpeg:50",
        "jpeg:30",
        "jpeg:10",
    ]
