"""`facewise eval budget` and `facewise eval compare` on small LFW subsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewise import UnknownName
from facewise.evaluate.compare import parse_system
from facewise.evaluate.datasets import DatasetError, load_pairs
from facewise.evaluate.metrics import kfold_accuracy

from .conftest import Run

pytestmark = [pytest.mark.models, pytest.mark.data]


def test_budget_tiers_pick_the_best_that_fits(budget_run: Run) -> None:
    d = budget_run.data
    configs = d["configs"]
    assert {(c["detector"], c["embedder"], c["flip"]) for c in configs} == {
        ("hog", "dlib-resnet", False),
        ("hog", "dlib-resnet", True),
    }
    for c in configs:
        assert 0 < c["ms_per_face"] <= c["ms_p90"] and c["timed_images"] == 4
        assert 0.5 < c["accuracy"] <= 1
    assert d["tiers_ms"] == [100, 500, 1000]
    for tier, best in d["tiers"].items():
        fits = [c for c in configs if c["ms_per_face"] <= int(tier)]
        if not fits:
            assert best is None
            continue
        top = max(fits, key=lambda c: (c["accuracy"], -c["ms_per_face"]))
        assert best["config"] == top["config"] and best["accuracy"] == top["accuracy"]


def test_compare_differences_are_paired(
    compare_run: Run, scores: list[dict[str, str]], lfw: Path
) -> None:
    d = compare_run.data
    names = [s["name"] for s in d["systems"]]
    assert names[:2] == ["dlib-resnet / hog+mtcnn / flip", "dlib-resnet / hog+mtcnn / no flip"]
    assert names[2].startswith("fusion: ") and len(names) == 3
    pairs = load_pairs(lfw / "pairs.csv").select(limit=200)
    by_pair = {(r["path_a"], r["path_b"]): float(r["score"]) for r in scores}
    s = np.array([by_pair[k] for k in zip(pairs.path_a, pairs.path_b, strict=True)])
    assert d["systems"][0]["accuracy"] == pytest.approx(
        kfold_accuracy(s, pairs.same, pairs.folds).mean
    )
    for diff, system in zip(d["differences"], d["systems"][1:], strict=True):
        assert diff["system"] == system["name"] and diff["baseline"] == names[0]
        assert diff["accuracy_diff"] == pytest.approx(
            system["accuracy"] - d["systems"][0]["accuracy"]
        )
        lo, hi = diff["ci95"]
        assert lo <= diff["accuracy_diff"] <= hi
        assert diff["significant"] == (lo > 0 or hi < 0)


def test_system_specs() -> None:
    p = parse_system("facenet/mtcnn/flip")
    assert (p.embedder, p.detector, p.flip) == ("facenet", "mtcnn", True)
    assert parse_system("default").detector == "hog+mtcnn"  # "auto" for dlib-resnet
    with pytest.raises(DatasetError, match="flip or noflip"):
        parse_system("facenet/mtcnn/maybe")
    with pytest.raises(UnknownName, match="unknown detector 'yolo'"):
        parse_system("facenet/yolo")
