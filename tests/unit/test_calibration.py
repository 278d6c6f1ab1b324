"""The non-mated model behind open-set thresholds (facewise.calibration), on synthetic scores
whose distribution is known, and on the calibration shipped for the default space."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from facewise.calibration import (
    FmrTable,
    NonMatedModel,
    fit_model,
    fit_table,
    non_mated_scores,
    template_vectors,
)
from facewise.errors import InvalidInput

MU, SD = 0.85, 0.03


@pytest.fixture(scope="module")
def gaussian() -> FmrTable:
    """A table fitted on 2M scores from N(0.85, 0.03): its FMR is the normal survival."""
    rng = np.random.default_rng(0)
    return fit_table(rng.normal(MU, SD, 2_000_000))


def test_fmr_follows_the_measured_tail(gaussian: FmrTable) -> None:
    for score in (0.85, 0.88, 0.90, 0.93, 0.95):
        truth = stats.norm.sf(score, MU, SD)
        assert gaussian.fmr(score) == pytest.approx(truth, rel=0.05), score
    # scores beyond the measured points: extrapolated, monotone, never above the last point
    last = float(gaussian.scores[-1])
    far = gaussian.fmr(np.array([last + 0.005, (last + 1) / 2, 1.0]))
    assert np.all(np.diff(far) < 0) and far[0] <= 10 ** gaussian.log10_fmr[-1]
    assert far[-1] == 0.0  # no stranger matches perfectly: the power tail reaches 0 at 1
    assert far[0] > 0
    assert float(gaussian.fmr(-1.0)) == 1.0


def test_round_trip_through_json(gaussian: FmrTable) -> None:
    again = FmrTable.from_dict(gaussian.as_dict())
    grid = np.linspace(0.8, 1.0, 41)
    assert np.allclose(again.fmr(grid), gaussian.fmr(grid), rtol=1e-3)


def test_threshold_holds_fpir_as_the_gallery_grows(gaussian: FmrTable) -> None:
    model = NonMatedModel({"mean": {1: gaussian}, "best": {1: gaussian}})
    thresholds = []
    for people in (1, 10, 100, 1000):
        t = model.threshold(0.01, {1: people}, template="mean")
        thresholds.append(t)
        # independent comparisons: P(best of N >= t) = 1 - (1 - FMR(t))^N
        expected = 1 - (1 - float(gaussian.fmr(t))) ** people
        assert model.fpir(t, {1: people}, template="mean") == pytest.approx(expected, rel=1e-6)
        assert expected == pytest.approx(0.01, rel=1e-3)
    assert all(b > a for a, b in itertools.pairwise(thresholds))
    # a simulated gallery of 100 independent people: 1% of strangers accepted
    rng = np.random.default_rng(1)
    best = rng.normal(MU, SD, (200_000, 100)).max(axis=1)
    observed = float(np.mean(best >= thresholds[2]))
    assert observed == pytest.approx(0.01, rel=0.1)


def test_a_mixed_gallery_sums_its_people() -> None:
    rng = np.random.default_rng(2)
    one = fit_table(rng.normal(0.85, 0.03, 500_000))
    three = fit_table(rng.normal(0.88, 0.02, 500_000))
    model = NonMatedModel({"mean": {1: one, 3: three}})
    shape = {1: 40, 3: 60, 7: 5}  # 7 samples: the table for the most calibrated (3)
    t = 0.95
    miss = (1 - float(one.fmr(t))) ** 40 * (1 - float(three.fmr(t))) ** 65
    assert model.fpir(t, shape, template="mean") == pytest.approx(1 - miss, rel=1e-6)
    assert model.table("mean", 2) is one and model.table("mean", 9) is three
    with pytest.raises(InvalidInput):
        model.threshold(0.0, shape, template="mean")
    with pytest.raises(InvalidInput):
        model.table("median", 1)
    assert model.threshold(0.5, {}, template="mean") == -1.0  # an empty gallery accepts nobody
    assert math.isclose(model.fpir(0.99, {}, template="mean"), 0.0)


def test_templates_and_non_mated_scores() -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(30, 16))
    people = np.repeat([f"p{i}" for i in range(30)], 4)
    vectors = centres.repeat(4, axis=0) + 0.3 * rng.normal(size=(120, 16))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    mean = template_vectors(vectors[:3], "mean")
    assert mean.shape == (1, 16) and np.isclose(np.linalg.norm(mean), 1.0)
    assert template_vectors(vectors[:3], "best").shape == (3, 16)
    pairs = non_mated_scores(vectors, people, template="mean", samples=1)
    assert len(pairs) == 120 * 119 // 2 - 30 * 6  # every pair of two different people once
    # a mean template sits nearer its person's centre: strangers score it differently from
    # single photos, which is why each template size has its own table
    three = non_mated_scores(vectors, people, template="mean", samples=3)
    assert len(three) == 30 * 4 * 116  # the 4 distinct subsets of 3 x every other person's image
    assert not np.allclose(np.sort(three)[-100:].mean(), np.sort(pairs)[-100:].mean(), atol=0.01)
    with pytest.raises(InvalidInput):
        non_mated_scores(vectors, people, template="mean", samples=5)


def test_fit_model_stops_where_people_run_out() -> None:
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(80, 8))
    counts = np.r_[np.full(60, 2), np.full(20, 3)]
    people = np.repeat([f"p{i}" for i in range(80)], counts)
    vectors = centres.repeat(counts, axis=0) + 0.5 * rng.normal(size=(len(people), 8))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    model = fit_model(vectors, people)
    assert set(model.tables) == {"best", "mean"}
    assert sorted(model.tables["mean"]) == [1, 2, 3]  # nobody has 4 photos
    assert model.as_dict()["tables"]["best"].keys() == {"1", "2", "3"}


@pytest.mark.models
def test_the_shipped_calibration_is_for_the_default_space() -> None:
    from facewise import Engine
    from facewise.calibration import fmr_at, nonmated_model

    space = Engine().space
    model = nonmated_model(space)
    assert sorted(model.tables["mean"]) == [1, 2, 3, 4, 5]
    assert model.tables["mean"][1].pairs > 10_000_000  # every pair of two people in LFW dev
    # the verification threshold at FMR 1e-3 reads back as about 1e-3
    from facewise.compare import threshold

    assert fmr_at(space, threshold(space, "fmr")) == pytest.approx(1e-3, rel=0.25)
    # 1 vs 800 people: the threshold for 1% of strangers rises with the gallery
    small = model.threshold(0.01, {1: 10}, template="mean")
    large = model.threshold(0.01, {1: 800}, template="mean")
    assert large > small + 0.01
