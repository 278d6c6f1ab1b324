"""Verification metrics on score arrays. Convention: higher score = more alike; a pair is
accepted when ``score >= threshold``. ``labels`` are booleans (True = same identity).
Scores of ``-inf`` stand for pairs that could not be compared (failure to enrol): they are always
rejected, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]
Labels = npt.NDArray[np.bool_]


def _arrays(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[Scores, Labels]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores {s.shape} and labels {y.shape} must be equal-length 1-D arrays")
    if not y.any() or y.all():
        raise ValueError("need both genuine and impostor pairs")
    return s, y


def candidate_thresholds(scores: Scores) -> Scores:
    """Every distinct decision: midpoints between sorted finite scores, plus both ends."""
    finite = np.unique(scores[np.isfinite(scores)])
    if finite.size == 0:
        return np.array([np.inf])
    mids = (finite[1:] + finite[:-1]) / 2
    return np.concatenate([[finite[0] - 1e-9], mids, [finite[-1] + 1e-9]])


def accuracy_at(scores: Scores, labels: Labels, threshold: float) -> float:
    return float(np.mean((scores >= threshold) == labels))


def best_threshold(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy; ties go to the middle of the best run."""
    s, y = _arrays(scores, labels)
    cands = candidate_thresholds(s)
    order = np.argsort(s)
    sorted_s, sorted_y = s[order], y[order]
    # accepted = scores >= t; correct = genuine accepted + impostors rejected
    idx = np.searchsorted(sorted_s, cands, side="left")
    genuine_below = np.concatenate([[0], np.cumsum(sorted_y)])[idx]
    impostor_below = np.concatenate([[0], np.cumsum(~sorted_y)])[idx]
    correct = (y.sum() - genuine_below) + impostor_below
    best = np.flatnonzero(correct == correct.max())
    pick = best[len(best) // 2]
    return float(cands[pick]), float(correct[pick] / len(s))


@dataclass(frozen=True, slots=True)
class KFold:
    mean: float
    std: float
    per_fold: list[float]
    thresholds: list[float]


def kfold_accuracy(scores: npt.ArrayLike, labels: npt.ArrayLike, folds: npt.ArrayLike) -> KFold:
    """The LFW protocol: for each fold, the threshold is chosen on the other folds and the
    accuracy measured on this one."""
    s, y = _arrays(scores, labels)
    f = np.asarray(folds)
    accs, thrs = [], []
    for fold in np.unique(f):
        test = f == fold
        thr, _ = best_threshold(s[~test], y[~test])
        accs.append(accuracy_at(s[test], y[test], thr))
        thrs.append(thr)
    return KFold(float(np.mean(accs)), float(np.std(accs)), accs, thrs)


def threshold_at_fmr(impostor_scores: npt.ArrayLike, fmr: float) -> float:
    """The lowest threshold whose false-match rate on ``impostor_scores`` is at most ``fmr``."""
    imp = np.sort(np.asarray(impostor_scores, dtype=np.float64))[::-1]
    allowed = int(np.floor(fmr * len(imp)))
    if allowed >= len(imp):
        return float(imp[-1])
    # accept strictly above the (allowed)-th highest impostor score
    return float(np.nextafter(imp[allowed], np.inf))


def rates_at(scores: npt.ArrayLike, labels: npt.ArrayLike, threshold: float) -> tuple[float, float]:
    """(false-match rate, true-match rate) at ``threshold``."""
    s, y = _arrays(scores, labels)
    accepted = s >= threshold
    return float(accepted[~y].mean()), float(accepted[y].mean())


def tar_at_far(scores: npt.ArrayLike, labels: npt.ArrayLike, far: float) -> tuple[float, float]:
    """(TAR, threshold) at the lowest threshold whose FAR on these impostors is <= ``far``."""
    s, y = _arrays(scores, labels)
    thr = threshold_at_fmr(s[~y], far)
    return rates_at(s, y, thr)[1], thr


def eer(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Equal error rate: where the false-match and false-non-match rates cross (interpolated
    linearly between the two neighbouring thresholds)."""
    s, y = _arrays(scores, labels)
    cands = candidate_thresholds(s)
    imp, gen = np.sort(s[~y]), np.sort(s[y])
    fmr = 1 - np.searchsorted(imp, cands, side="left") / len(imp)
    fnmr = np.searchsorted(gen, cands, side="left") / len(gen)
    diff = fmr - fnmr  # falls from >= 0 to <= 0 as the threshold rises
    i = int(np.argmax(diff <= 0))
    if i == 0:
        return float((fmr[0] + fnmr[0]) / 2)
    a, b = diff[i - 1], diff[i]
    w = a / (a - b)
    return float((1 - w) * (fmr[i - 1] + fnmr[i - 1]) / 2 + w * (fmr[i] + fnmr[i]) / 2)
