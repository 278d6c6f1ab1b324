"""Verification metrics on score arrays. Convention: higher score = more alike; a pair is
accepted when ``score >= threshold``. ``labels`` are booleans (True = same identity).
Scores of ``-inf`` stand for pairs that could not be compared (failure to enrol): they are always
rejected, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
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


# --- scores from vectors --------------------------------------------------------------------------


def pair_scores(
    vectors: npt.ArrayLike, ia: npt.ArrayLike, ib: npt.ArrayLike, metric: str = "cosine"
) -> Scores:
    """Scores of pairs (``ia[k]``, ``ib[k]``) of rows of ``vectors`` (N, D) float: cosine
    similarity, or minus the Euclidean distance for ``metric="euclidean"``. A row of NaN stands for
    an image without a face: its pairs score ``-inf`` (always rejected)."""
    v = np.asarray(vectors)  # computed in the vectors' own precision, returned as float64
    a, b = v[np.asarray(ia)], v[np.asarray(ib)]
    if metric == "euclidean":  # face_recognition's own rule: distance, smaller = same
        scores = -np.linalg.norm(a - b, axis=1)
    else:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        scores = np.sum(a * b, axis=1)
    return np.where(np.isnan(scores), -np.inf, scores).astype(np.float64)


def fused_kfold(parts: list[npt.ArrayLike], labels: npt.ArrayLike, folds: npt.ArrayLike) -> Scores:
    """Score fusion without leakage: z-normalise each system's scores by the impostor statistics
    of the training folds, then add. Returns the fused scores of each fold's test pairs."""
    y = np.asarray(labels, dtype=bool)
    f = np.asarray(folds)
    fused = np.empty(len(y))
    for fold in np.unique(f):
        test = f == fold
        total = np.zeros(test.sum())
        for part in parts:
            s = np.asarray(part, dtype=np.float64)
            train_imp = s[~test & ~y & np.isfinite(s)]
            total += (s[test] - train_imp.mean()) / train_imp.std()
        fused[test] = total
    return np.where(np.isfinite(fused), fused, -np.inf)


# --- curves ---------------------------------------------------------------------------------------


def roc_curve(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[Scores, Scores, Scores]:
    """(false-match rate, true-match rate, threshold) at every distinct decision, threshold
    rising (so both rates fall from 1 towards 0)."""
    s, y = _arrays(scores, labels)
    cands = candidate_thresholds(s)
    imp, gen = np.sort(s[~y]), np.sort(s[y])
    fmr = 1 - np.searchsorted(imp, cands, side="left") / len(imp)
    tmr = 1 - np.searchsorted(gen, cands, side="left") / len(gen)
    return fmr, tmr, cands


def roc_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Area under the ROC curve: the chance that a random genuine pair outscores a random impostor
    pair, ties counted half (Mann-Whitney U / (n_genuine * n_impostor))."""
    s, y = _arrays(scores, labels)
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mid_rank = ends - (counts - 1) / 2  # 1-based average rank of each distinct value
    ranks = mid_rank[inverse]
    n_gen, n_imp = int(y.sum()), int((~y).sum())
    u = ranks[y].sum() - n_gen * (n_gen + 1) / 2
    return float(u / (n_gen * n_imp))


# --- how far the data carry -----------------------------------------------------------------------


def min_impostors_for(far: float) -> int:
    """The fewest impostor pairs at which a false-accept rate of ``far`` means anything: one
    false accept must be allowed (``n * far >= 1``); below that, "TAR at FAR" is TAR at zero false
    accepts on this sample, whatever the target."""
    return int(np.ceil(1 / far - 1e-9))


def far_supported(n_impostors: int, far: float) -> bool:
    return n_impostors >= min_impostors_for(far)


# --- confidence intervals -------------------------------------------------------------------------


def _log_binom_cdf(k: int, n: int, p: float) -> float:
    """log P(X <= k) for X ~ Binomial(n, p), 0 <= k < n, 0 < p < 1 (exact sum in log space)."""
    j = np.arange(k + 1, dtype=np.float64)
    # log C(n, j) by a running sum of log((n - i + 1) / i)
    steps = np.log((n - j[1:] + 1) / j[1:])
    log_choose = np.concatenate([[0.0], np.cumsum(steps)])
    terms = log_choose + j * np.log(p) + (n - j) * np.log1p(-p)
    top = terms.max()
    return float(top + np.log(np.exp(terms - top).sum()))


def _solve(target: float, fn: Callable[[float], float], increasing: bool) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        above = fn(mid) > target
        if above == increasing:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) two-sided binomial interval for ``k`` events in ``n`` trials.
    Assumes independent trials."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    tail = np.log((1 - confidence) / 2)
    # lower: P(X >= k | p) = tail, i.e. P(X <= k - 1 | p) = 1 - tail (falls as p rises)
    lower = (
        0.0
        if k == 0
        else _solve(
            np.log1p(-np.exp(tail)), lambda p: _log_binom_cdf(k - 1, n, p), increasing=False
        )
    )
    # upper: P(X <= k | p) = tail (falls as p rises)
    upper = 1.0 if k == n else _solve(tail, lambda p: _log_binom_cdf(k, n, p), increasing=False)
    return (lower, upper)


def stratified_resamples(strata: npt.ArrayLike, reps: int, seed: int = 0) -> npt.NDArray[np.int64]:
    """``reps`` bootstrap resamples (reps, N) of indices 0..N-1, drawn with replacement within
    each stratum (so every resample keeps each stratum's size)."""
    keys = np.asarray(strata)
    rng = np.random.default_rng(seed)
    out = np.empty((reps, len(keys)), dtype=np.int64)
    for value in np.unique(keys):
        members = np.flatnonzero(keys == value)
        out[:, members] = members[rng.integers(0, len(members), size=(reps, len(members)))]
    return out


def percentile_ci(values: npt.ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates (NaN replicates ignored)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (float("nan"), float("nan"))
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(v, [tail, 100 - tail])
    return (float(lo), float(hi))
