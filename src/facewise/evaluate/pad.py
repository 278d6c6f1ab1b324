"""Presentation-attack detection, measured the ISO/IEC 30107-3 way.

Convention: a score says how *live* a face looks (higher = more bona fide); a face is accepted as
live when ``score >= threshold``.

* **APCER** (attack presentation classification error rate): the share of attack presentations
  accepted as live, per attack type (PAI species); the headline APCER is the **worst** type's.
* **BPCER** (bona fide presentation classification error rate): the share of bona fide
  presentations rejected as attacks.
* **ACER** = (worst APCER + BPCER) / 2 (not in the standard, but what PAD benchmarks report).
* BPCER at APCER 1/5/10 % (BPCER20 = BPCER at APCER 5 %) and APCER at BPCER 1/5 %: the
  lowest error of the other kind among thresholds that keep this one at or below the target.
* The DET curve: (APCER of the worst type, BPCER) over every threshold.
* The threshold comes from a dev set (where APCER = BPCER on it: its EER point) and is applied
  unchanged to the test set; without a dev set the test set's own EER threshold is reported,
  labelled as such (optimistic).

An image in which no face was found scores ``-inf``: an attack with no face is rejected (an
APCER success), a bona fide one counts as a BPCER error — never dropped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput

Scores = npt.NDArray[np.float64]
APCER_TARGETS = (0.01, 0.05, 0.10)
BPCER_TARGETS = (0.01, 0.05)
LIVE_WORDS = ("live", "bona_fide", "bonafide", "bona-fide", "real", "genuine", "1", "true")
ATTACK_WORDS = ("spoof", "attack", "fake", "imposter", "impostor", "0", "false")


def _check(live: npt.ArrayLike, attack: npt.ArrayLike) -> tuple[Scores, Scores]:
    b = np.asarray(live, dtype=np.float64).ravel()
    a = np.asarray(attack, dtype=np.float64).ravel()
    if b.size == 0 or a.size == 0:
        raise InvalidInput("PAD metrics need both bona fide and attack presentations")
    return b, a


def apcer(attack: npt.ArrayLike, threshold: float) -> float:
    """Share of attack scores accepted as live (``>= threshold``)."""
    a = np.asarray(attack, dtype=np.float64)
    return float(np.mean(a >= threshold))


def bpcer(live: npt.ArrayLike, threshold: float) -> float:
    """Share of bona fide scores rejected (``< threshold``)."""
    b = np.asarray(live, dtype=np.float64)
    return float(np.mean(b < threshold))


def candidate_thresholds(*scores: npt.ArrayLike) -> Scores:
    """Every distinct decision: each finite score, and one above the largest."""
    values = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in scores])
    finite = np.unique(values[np.isfinite(values)])
    if finite.size == 0:
        return np.array([np.inf])
    return np.concatenate([finite, [np.nextafter(finite[-1], np.inf)]])


def det_curve(
    live: npt.ArrayLike, attacks: dict[str, npt.ArrayLike]
) -> tuple[Scores, Scores, Scores]:
    """(thresholds, worst-type APCER, BPCER) at every candidate threshold, ascending threshold."""
    b = np.sort(np.asarray(live, dtype=np.float64))
    sorted_attacks = [np.sort(np.asarray(a, dtype=np.float64)) for a in attacks.values()]
    if b.size == 0 or not sorted_attacks or any(a.size == 0 for a in sorted_attacks):
        raise InvalidInput("PAD metrics need both bona fide and attack presentations")
    thresholds = candidate_thresholds(b, *sorted_attacks)
    bp = np.searchsorted(b, thresholds, side="left") / b.size
    ap = np.max(
        [1.0 - np.searchsorted(a, thresholds, side="left") / a.size for a in sorted_attacks],
        axis=0,
    )
    return thresholds, ap, bp


def eer_threshold(live: npt.ArrayLike, attacks: dict[str, npt.ArrayLike]) -> float:
    """The threshold where the worst-type APCER and the BPCER are closest (the lower of a tie
    pair's maximum); on a perfectly separated set, the midpoint of the gap."""
    thresholds, ap, bp = det_curve(live, attacks)
    worst = np.maximum(ap, bp)
    best = np.flatnonzero(worst == worst.min())
    first = int(best[0])
    if worst[first] == 0.0 and first > 0 and math.isfinite(thresholds[first - 1]):
        return float((thresholds[first - 1] + thresholds[first]) / 2)
    return float(thresholds[first])


def error_at_target(errors: Scores, other: Scores, target: float) -> float:
    """The lowest ``other`` among thresholds where ``errors <= target`` (1.0 when none)."""
    ok = errors <= target + 1e-12
    return float(other[ok].min()) if ok.any() else 1.0


def pad_figures(
    live: npt.ArrayLike, attacks: dict[str, npt.ArrayLike], threshold: float
) -> dict[str, Any]:
    """APCER per type and the worst, BPCER, ACER at ``threshold``; the target operating points
    and the EER over every threshold. Plain numbers (for JSON)."""
    b, _ = _check(live, np.concatenate([np.asarray(a, dtype=np.float64) for a in attacks.values()]))
    per_type = {name: apcer(scores, threshold) for name, scores in attacks.items()}
    worst_type = max(per_type, key=lambda k: per_type[k])
    ap_worst, bp = per_type[worst_type], bpcer(b, threshold)
    _, ap, bps = det_curve(b, attacks)
    eer_at = int(np.argmin(np.maximum(ap, bps)))
    return {
        "threshold": threshold,
        "apcer": per_type,
        "apcer_worst": ap_worst,
        "worst_attack": worst_type,
        "bpcer": bp,
        "acer": (ap_worst + bp) / 2,
        "bpcer_at_apcer": {f"{t:g}": error_at_target(ap, bps, t) for t in APCER_TARGETS},
        "apcer_at_bpcer": {f"{t:g}": error_at_target(bps, ap, t) for t in BPCER_TARGETS},
        "eer": float((ap[eer_at] + bps[eer_at]) / 2),
        "auc": auc(b, np.concatenate([np.asarray(a, dtype=np.float64) for a in attacks.values()])),
        "bona_fide": int(b.size),
        "attacks": {name: int(np.asarray(s).size) for name, s in attacks.items()},
    }


def auc(live: npt.ArrayLike, attack: npt.ArrayLike) -> float:
    """Area under the ROC: P(live score > attack score) + P(equal) / 2."""
    b, a = _check(live, attack)
    order = np.concatenate([b, a])
    ranks = _average_ranks(np.where(np.isfinite(order), order, -1e300))
    return float((ranks[: b.size].sum() - b.size * (b.size + 1) / 2) / (b.size * a.size))


def _average_ranks(values: Scores) -> Scores:
    order = np.argsort(values, kind="mergesort")
    sorted_v = values[order]
    ranks = np.empty(values.size, dtype=np.float64)
    start = 0
    while start < values.size:
        stop = start
        while stop + 1 < values.size and sorted_v[stop + 1] == sorted_v[start]:
            stop += 1
        ranks[order[start : stop + 1]] = (start + stop) / 2 + 1
        start = stop + 1
    return ranks
