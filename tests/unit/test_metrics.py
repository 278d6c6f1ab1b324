from __future__ import annotations

import numpy as np
import pytest

from facewise.evaluate.metrics import (
    best_threshold,
    eer,
    kfold_accuracy,
    rates_at,
    tar_at_far,
    threshold_at_fmr,
)


def test_perfectly_separable_scores() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    labels = np.array([True, True, True, False, False, False])
    thr, acc = best_threshold(scores, labels)
    assert acc == 1.0 and 0.3 < thr < 0.7
    assert eer(scores, labels) == 0.0
    assert tar_at_far(scores, labels, 1e-3)[0] == 1.0


def test_gaussian_scores_match_theory() -> None:
    rng = np.random.default_rng(1)
    n = 20000
    labels = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    scores = np.r_[rng.normal(1, 1, n), rng.normal(-1, 1, n)]
    # For N(+1,1) vs N(-1,1): best accuracy = EER complement = Phi(1) = 0.8413
    assert best_threshold(scores, labels)[1] == pytest.approx(0.8413, abs=0.01)
    assert eer(scores, labels) == pytest.approx(0.1587, abs=0.01)
    k = kfold_accuracy(scores, labels, np.arange(2 * n) % 5)
    assert k.mean == pytest.approx(0.8413, abs=0.01) and len(k.per_fold) == 5
    # TAR at FAR 1e-2: threshold = -1 + 2.326 -> TAR = Phi(1 - 1.326) = Phi(-0.326) = 0.372
    assert tar_at_far(scores, labels, 1e-2)[0] == pytest.approx(0.372, abs=0.02)


def test_threshold_at_fmr_admits_at_most_the_target() -> None:
    impostors = np.linspace(0, 1, 10001)
    thr = threshold_at_fmr(impostors, 1e-3)
    assert (impostors >= thr).mean() <= 1e-3
    assert (impostors >= np.nextafter(thr, -np.inf) - 1e-4).mean() > 1e-3


def test_failures_to_compare_are_rejected_not_dropped() -> None:
    scores = np.array([0.9, -np.inf, 0.1, 0.2])
    labels = np.array([True, True, False, False])
    fmr, tmr = rates_at(scores, labels, 0.5)
    assert (fmr, tmr) == (0.0, 0.5)
    assert best_threshold(scores, labels)[1] == 0.75


def test_bad_shapes_and_one_class_are_refused() -> None:
    with pytest.raises(ValueError):
        best_threshold([0.1, 0.2], [True])
    with pytest.raises(ValueError):
        eer([0.1, 0.2], [True, True])
