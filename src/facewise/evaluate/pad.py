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
  unchanged to the test set; without a dev set the model's own threshold is used, and the
  result says which (``threshold_source``).

An image in which no face was found scores ``-inf``: an attack with no face is rejected (an
APCER success), a bona fide one counts as a BPCER error — never dropped.

The protocol (:func:`run_pad`, ``facewise eval pad``): a manifest CSV names each image and its
label (bona fide when it equals ``live_value``, else an attack; the attack type from
``attack_column``, else the label itself); the largest face of every image is scored by the PAD
model (the bundled one, or a user's ONNX model); :class:`PadResult` holds the figures.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from facewise.errors import FacewiseError, InvalidInput
from facewise.evaluate.result import INTERNAL, OPTIONAL, LabResult

if TYPE_CHECKING:
    from facewise.engine import Engine
    from facewise.liveness.model import PadModel
    from facewise.settings import Settings

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
    live: npt.ArrayLike, attacks: Mapping[str, npt.ArrayLike]
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


def eer_threshold(live: npt.ArrayLike, attacks: Mapping[str, npt.ArrayLike]) -> float:
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
    live: npt.ArrayLike, attacks: Mapping[str, npt.ArrayLike], threshold: float
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


# --- the protocol ------------------------------------------------------------------------------

Progress = Callable[[int, int], None]
NUAA_COVERAGE = (
    "NUAA (Tan et al., ECCV 2010) holds printed-photo attacks only, captured with one kind of "
    "webcam: these figures say nothing about screen or video replays, masks, or other cameras "
    "and lighting."
)
COVERAGE = (
    "Only the attack types in the test set were measured ({types}); a PAD model is not shown to "
    "stop attack species it was not tested on (for example screen or video replays, paper or "
    "silicone masks), nor to hold on other cameras."
)


@dataclass(frozen=True, slots=True)
class PadSet:
    """Labelled presentations: image ``paths`` relative to ``root``, ``bona_fide`` per image and
    the attack type of each attack (``""`` for a bona fide one)."""

    root: Path
    paths: list[str]
    bona_fide: npt.NDArray[np.bool_]
    attack_types: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.paths)

    def types(self) -> list[str]:
        return sorted({t for t, b in zip(self.attack_types, self.bona_fide, strict=True) if not b})

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "images": len(self),
            "bona_fide": int(self.bona_fide.sum()),
            "attacks": {t: self.attack_types.count(t) for t in self.types()},
        }


def load_pad_manifest(
    path: Path | str,
    root: Path | str | None = None,
    *,
    label_column: str,
    attack_column: str | None = None,
    live_value: str = "live",
) -> PadSet:
    """A manifest CSV with a ``path`` column: a row is bona fide when ``label_column`` equals
    ``live_value`` (case-insensitive), else an attack of the type ``attack_column`` names (its
    label when that column is absent or blank). Paths are relative to ``root`` (default: the
    manifest's folder)."""
    from facewise.evaluate.datasets import DatasetError, _read_rows, _require_file

    path = Path(path)
    _require_file(path, "manifest")
    needed = ["path", label_column, *([attack_column] if attack_column else [])]
    rows, _ = _read_rows(path, needed, "manifest")
    live = live_value.strip().lower()
    bona = np.array([r[label_column].lower() == live for r in rows], dtype=bool)
    if not bona.any() or bona.all():
        seen = sorted({r[label_column] for r in rows})
        raise DatasetError(
            f"{path}: PAD needs bona fide rows ({label_column} = {live_value!r}) and attack "
            f"rows; {label_column} holds {', '.join(seen)}"
        )
    types = [
        "" if b else ((r.get(attack_column or "") or "").strip() or r[label_column])
        for r, b in zip(rows, bona, strict=True)
    ]
    return PadSet(
        Path(root) if root is not None else path.parent,
        [r["path"] for r in rows],
        bona,
        types,
        str(path),
    )


@dataclass(frozen=True, slots=True)
class Scored:
    """The live score of each image of a :class:`PadSet` (``-inf``: no face, or unreadable)."""

    scores: Scores
    failures: list[dict[str, str]]
    seconds: float

    def split(self, pads: PadSet) -> tuple[Scores, dict[str, Scores]]:
        """(bona fide scores, attack type -> scores)."""
        types = np.asarray(pads.attack_types)
        attacks = {t: self.scores[~pads.bona_fide & (types == t)] for t in pads.types()}
        return self.scores[pads.bona_fide], attacks


def score_set(
    pads: PadSet, engine: Engine, model: PadModel, progress: Progress | None = None
) -> Scored:
    """The PAD model's live probability of the largest face of every image (in this process,
    with ``engine``'s detector)."""
    scores = np.full(len(pads), -np.inf)
    failures: list[dict[str, str]] = []
    start = time.perf_counter()
    for i, rel in enumerate(pads.paths):
        try:
            found = engine.liveness(str(pads.root / rel), largest=True, model=model)
        except FacewiseError as exc:
            failures.append({"path": rel, "reason": exc.code})
        else:
            if found:
                scores[i] = found[0].score
            else:
                failures.append({"path": rel, "reason": "no_face"})
        if progress is not None:
            progress(i + 1, len(pads))
    return Scored(scores, failures, time.perf_counter() - start)


@dataclass(frozen=True, kw_only=True, eq=False)
class PadResult(LabResult):
    """The figures of one PAD evaluation, in the order ``--json`` prints them; the per-image
    scores are kept for the report and ``--scores``."""

    kind = "pad"
    dataset: dict[str, Any]
    model: dict[str, Any]
    detector: str
    threshold: float
    threshold_source: str
    """"dev": the dev set's EER threshold; "model": the model's own (no dev set given)."""
    test: dict[str, Any]
    """:func:`pad_figures` of the test set at ``threshold``."""
    dev: dict[str, Any] | None = field(default=None, metadata=OPTIONAL)
    """:func:`pad_figures` of the dev set at its own EER threshold."""
    failed_images: int
    failures: list[dict[str, str]]
    coverage: list[str]
    seconds: dict[str, float]
    scores_file: str | None = field(default=None, metadata=OPTIONAL)
    scores: Scores = field(metadata=INTERNAL, repr=False)
    bona_fide: npt.NDArray[np.bool_] = field(metadata=INTERNAL, repr=False)
    attack_types: list[str] = field(metadata=INTERNAL, repr=False)

    @property
    def acer(self) -> float:
        return float(self.test["acer"])


def coverage_notes(pads: PadSet) -> list[str]:
    notes = [COVERAGE.format(types=", ".join(pads.types()))]
    if "nuaa" in f"{pads.source} {pads.root}".lower():
        notes.append(NUAA_COVERAGE)
    return notes


def run_pad(
    test: PadSet,
    *,
    dev: PadSet | None = None,
    model: PadModel | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    scores_path: Path | str | None = None,
) -> PadResult:
    """Score ``test`` (and ``dev``) with ``model`` (the bundled one unless given; faces found by
    the ``settings``' detector) and measure it: the threshold is the dev set's EER threshold
    when there is a dev set, else the model's own, applied unchanged to the test set."""
    from facewise.engine import Engine
    from facewise.liveness.model import bundled
    from facewise.settings import load_settings

    engine = Engine(settings or load_settings())
    pad = model or bundled()
    dev_figures: dict[str, Any] | None = None
    seconds: dict[str, float] = {}
    failures: list[dict[str, str]] = []
    sets: list[tuple[str, PadSet, Scores]] = []
    if dev is not None:
        d = score_set(dev, engine, pad, progress)
        sets.append(("dev", dev, d.scores))
        dev_live, dev_attacks = d.split(dev)
        threshold = eer_threshold(dev_live, dev_attacks)
        dev_figures = pad_figures(dev_live, dev_attacks, threshold)
        seconds["dev"] = round(d.seconds, 2)
        failures += [{**f, "set": "dev"} for f in d.failures]
        source = "dev"
    else:
        threshold, source = float(pad.threshold), "model"
    t = score_set(test, engine, pad, progress)
    live, attacks = t.split(test)
    seconds["test"] = round(t.seconds, 2)
    failures += [{**f, "set": "test"} for f in t.failures]
    if scores_path is not None:
        write_scores(scores_path, [*sets, ("test", test, t.scores)])
    return PadResult(
        dataset={"test": test.describe(), **({"dev": dev.describe()} if dev else {})},
        model={"name": pad.name, "threshold": float(pad.threshold)},
        detector=engine.detector.name,
        threshold=threshold,
        threshold_source=source,
        test=pad_figures(live, attacks, threshold),
        dev=dev_figures,
        failed_images=len(failures),
        failures=failures[:100],
        coverage=coverage_notes(test),
        seconds=seconds,
        scores_file=None if scores_path is None else str(scores_path),
        scores=t.scores,
        bona_fide=test.bona_fide,
        attack_types=test.attack_types,
    )


def write_scores(path: Path | str, sets: list[tuple[str, PadSet, Scores]]) -> Path:
    """One row per image of each (name, set, scores): set, path, bona_fide (1/0), attack_type,
    score (-inf: no face)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["set", "path", "bona_fide", "attack_type", "score"])
        for name, pads, scores in sets:
            rows = zip(pads.paths, pads.bona_fide, pads.attack_types, scores, strict=True)
            for rel, b, kind, s in rows:
                out.writerow([name, rel, int(b), kind, repr(float(s))])
    return target
