"""The metrics the lab adds (pure numpy, no data): intervals, AUC, curves, fusion, resampling."""

from __future__ import annotations

import numpy as np
import pytest

from facewise.evaluate import metrics


def test_clopper_pearson_closed_forms_and_symmetry() -> None:
    for n in (1, 10, 250):
        assert metrics.clopper_pearson(0, n) == pytest.approx((0.0, 1 - 0.025 ** (1 / n)))
        assert metrics.clopper_pearson(n, n) == pytest.approx((0.025 ** (1 / n), 1.0))
    lo, hi = metrics.clopper_pearson(7, 40)
    lo2, hi2 = metrics.clopper_pearson(33, 40)
    assert (lo, hi) == pytest.approx((1 - hi2, 1 - lo2), abs=1e-9)
    # the bounds are where the binomial tails equal 2.5%: check by direct summation
    from math import comb

    assert sum(comb(40, j) * lo**j * (1 - lo) ** (40 - j) for j in range(7, 41)) == pytest.approx(
        0.025, abs=1e-6
    )
    assert sum(comb(40, j) * hi**j * (1 - hi) ** (40 - j) for j in range(8)) == pytest.approx(
        0.025, abs=1e-6
    )
    with pytest.raises(ValueError):
        metrics.clopper_pearson(5, 4)


def test_auc_is_the_pairwise_win_rate_with_ties_half() -> None:
    rng = np.random.default_rng(3)
    scores = np.round(rng.normal(size=300), 1)  # many ties
    labels = rng.random(300) < 0.4
    gen, imp = scores[labels], scores[~labels]
    wins = (gen[:, None] > imp[None, :]).mean() + 0.5 * (gen[:, None] == imp[None, :]).mean()
    assert metrics.roc_auc(scores, labels) == pytest.approx(wins)


def test_roc_curve_agrees_with_rates_at() -> None:
    rng = np.random.default_rng(4)
    scores = np.r_[rng.normal(1, 1, 200), rng.normal(-1, 1, 300), [-np.inf]]
    labels = np.r_[np.ones(200, bool), np.zeros(300, bool), [True]]
    fmr, tmr, thr = metrics.roc_curve(scores, labels)
    assert fmr[0] == 1 and fmr[-1] == 0 and np.all(np.diff(fmr) <= 0)
    assert tmr[0] == pytest.approx(200 / 201)  # the -inf genuine pair is never accepted
    for k in (0, 50, 250, len(thr) - 1):
        assert (fmr[k], tmr[k]) == pytest.approx(metrics.rates_at(scores, labels, thr[k]))


def test_far_support() -> None:
    assert metrics.min_impostors_for(1e-3) == 1000
    assert metrics.far_supported(1500, 1e-3) and not metrics.far_supported(1500, 1e-4)
    assert metrics.far_supported(10, 0.1) and not metrics.far_supported(9, 0.1)


def test_pair_scores_and_fusion_without_leakage() -> None:
    rng = np.random.default_rng(5)
    v = rng.normal(size=(6, 4)).astype(np.float32)
    v[2] = np.nan
    s = metrics.pair_scores(v, [0, 1, 2], [1, 2, 3])
    assert s[1] == s[1] and np.isinf(s[1]) and s[1] < 0
    a, b = v[0] / np.linalg.norm(v[0]), v[1] / np.linalg.norm(v[1])
    assert s[0] == pytest.approx(float(a @ b), abs=1e-6)
    n = 60
    labels = np.arange(n) % 2 == 0
    folds = np.arange(n) % 3
    p1, p2 = rng.normal(size=n), rng.normal(size=n)
    fused = metrics.fused_kfold([p1, p2], labels, folds)
    # a test-fold score changes only its own fused value in that fold (the fold's statistics
    # come from the other folds)
    changed = p1.copy()
    k = int(np.flatnonzero((folds == 0) & ~labels)[0])
    changed[k] += 5
    again = metrics.fused_kfold([changed, p2], labels, folds)
    same_fold = folds == 0
    diff = np.flatnonzero(~np.isclose(fused[same_fold], again[same_fold]))
    assert diff.tolist() == [int(np.flatnonzero(np.flatnonzero(same_fold) == k)[0])]


def test_stratified_resamples_keep_strata() -> None:
    strata = np.array([0] * 5 + [1] * 3 + [2] * 7)
    draws = metrics.stratified_resamples(strata, 50, seed=1)
    assert draws.shape == (50, 15)
    for row in draws:
        assert np.array_equal(np.sort(strata[row]), np.sort(strata))
    assert metrics.percentile_ci([1.0, 2.0, 3.0, np.nan]) == pytest.approx((1.05, 2.95))


def test_the_package_names_load_lazily() -> None:
    import subprocess
    import sys

    code = (
        "import sys, facewise.evaluate as ev, facewise.cli.main\n"
        "assert 'matplotlib' not in sys.modules and 'facewise.evaluate.verify' not in sys.modules\n"
        "assert callable(ev.run_verify) and callable(ev.load_pairs)\n"
        "assert sorted(ev.__all__) == ev.__all__\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
