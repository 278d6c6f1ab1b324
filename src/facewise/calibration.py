"""What a score means: non-mated score tails per embedding space, and from them open-set
identification thresholds that hold at any gallery size.

A stranger's probe is compared with every enrolled person and wrongly accepted when the best of
those scores reaches the threshold ``t``. With ``FMR_k(t)`` the share of single comparisons of a
stranger with a person enrolled from ``k`` samples (under the gallery's template rule) that score
``t`` or more, and the comparisons with different people taken as independent, the share of
strangers this gallery accepts is

    FPIR(t) = 1 - prod over enrolled people p of (1 - FMR_{k_p}(t)),

so the threshold for a target FPIR rises with the number of people searched (and with their
samples, for the best-of rule). ``FMR_k`` is a table of scores at FMR = 10^-0.5 ... 10^-x measured
on the non-mated comparisons of LFW dev (``benchmarks/identify_lfw.py --write-thresholds``; millions
of pairs for k = 1), with the log-FMR tail beyond the last measured decade extrapolated linearly
in the score. :class:`NonMatedModel` turns a live gallery's shape (how many people have how many
samples) into a threshold for a target FPIR, and any score into the FPIR and FMR it stands for.

The tail past the measured points is a power law in the distance to a perfect match,
``log10 FMR = intercept + slope * log10(1 - score)``: the chance that a random stranger falls
within a small ball around a face shrinks as a power of the ball's radius, and a cosine score
cannot pass 1. Fitted on 5% of LFW dev's 18.9M pairs (measured down to FMR 2.8e-5), it predicts
1.35e-5 / 5.9e-6 / 2.3e-6 where all the pairs measure 1e-5 / 3e-6 / 1e-6: cautious by up to
2.3x two decades out, so a very large gallery accepts fewer strangers than asked, not more
(``benchmarks/identify_lfw.py``, "tail extrapolation").
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise import models
from facewise.compare import space_key
from facewise.errors import InvalidInput, ModelError
from facewise.types import EmbeddingSpace

TEMPLATES = ("best", "mean")
MAX_SAMPLES = 5
"""Templates of more samples than this use the table for this many (the calibration data has
too few people with more photos)."""


@dataclass(frozen=True, slots=True, eq=False)
class FmrTable:
    """Non-mated score tail of one template kind: ``log10_fmr`` (descending) at ``scores``
    (ascending), and the power tail ``log10 FMR = intercept + slope * log10(1 - score)`` past the
    last point."""

    scores: npt.NDArray[np.float64]
    log10_fmr: npt.NDArray[np.float64]
    slope: float
    intercept: float
    pairs: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FmrTable:
        return cls(
            np.asarray(d["scores"], dtype=np.float64),
            np.asarray(d["log10_fmr"], dtype=np.float64),
            float(d["tail"]["slope"]),
            float(d["tail"]["intercept"]),
            int(d["pairs"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "scores": [round(float(s), 6) for s in self.scores],
            "log10_fmr": [round(float(v), 4) for v in self.log10_fmr],
            "tail": {"slope": round(self.slope, 4), "intercept": round(self.intercept, 4)},
            "pairs": self.pairs,
        }

    def fmr(self, score: float | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The share of non-mated comparisons scoring ``score`` or more (vectorised)."""
        s = np.asarray(score, dtype=np.float64)
        inside = np.interp(s, self.scores, self.log10_fmr, left=0.0)
        with np.errstate(divide="ignore"):
            gap = np.log10(np.clip(1.0 - s, 0.0, None))
        tail = np.minimum(self.intercept + self.slope * gap, self.log10_fmr[-1])
        log10 = np.where(s > self.scores[-1], tail, inside)
        out: npt.NDArray[np.float64] = np.clip(10.0**log10, 0.0, 1.0)
        return out


FMR_GRID = np.round(np.arange(0.0, 12.01, 0.05), 2)
"""-log10 FMR at which a table records the score (FMR 1 down to 1e-12, as far as data goes)."""


def fit_table(non_mated: npt.NDArray[np.floating[Any]], *, min_tail: int = 25) -> FmrTable:
    """A table from non-mated comparison scores: empirical quantiles down to the FMR that still
    has ``min_tail`` comparisons above it, then the power tail fitted by least squares through
    the last decade of points (its exponent held at 1 or more), passing through the last one."""
    scores = np.sort(np.asarray(non_mated, dtype=np.float64))[::-1]
    n = len(scores)
    if n < 100 * min_tail:
        raise InvalidInput(f"{n} non-mated scores are too few to fit an FMR table")
    grid = FMR_GRID[10.0**-FMR_GRID * n >= min_tail]
    ranks = np.ceil(10.0**-grid * n).astype(int) - 1
    at = scores[ranks]
    # equal scores at neighbouring FMRs: keep the rarest FMR per score so scores ascend strictly
    keep = np.r_[at[1:] > at[:-1], True]
    at, log10 = at[keep], -grid[keep]
    tail = log10 >= log10[-1] + 1.0 if log10[0] - log10[-1] > 1.0 else np.ones_like(log10, bool)
    if at[-1] >= 1.0:
        raise InvalidInput("non-mated scores reach 1: duplicates of one image under two names?")
    slope = float(np.polyfit(np.log10(1.0 - at[tail]), log10[tail], 1)[0])
    slope = max(slope, 1.0)
    intercept = float(log10[-1] - slope * np.log10(1.0 - at[-1]))  # through the last point
    return FmrTable(at, log10, slope, intercept, n)


def template_vectors(vectors: npt.NDArray[np.float32], template: str) -> npt.NDArray[np.float32]:
    """(k, D) sample vectors of one person as the gallery scores them: the L2-normalised mean
    (1, D) for ``"mean"`` (every sample weighted 1), the samples themselves for ``"best"``."""
    if template == "best":
        return vectors
    m: npt.NDArray[np.float32] = vectors.sum(axis=0, keepdims=True)
    return (m / max(float(np.linalg.norm(m)), 1e-12)).astype(np.float32)


def non_mated_scores(
    vectors: npt.NDArray[np.float32],
    people: list[str] | npt.NDArray[np.str_],
    *,
    template: str,
    samples: int,
    subsets: int = 8,
    seed: int = 0,
) -> npt.NDArray[np.float32]:
    """Scores of every image against every *other* person enrolled from ``samples`` of their
    images under ``template`` (up to ``subsets`` random choices of samples per person; one
    pair per two images when ``samples`` is 1)."""
    who = np.asarray(people)
    if samples == 1:
        gram = vectors @ vectors.T
        upper = np.triu(np.ones(gram.shape, dtype=bool), 1) & (who[:, None] != who[None, :])
        out: npt.NDArray[np.float32] = gram[upper].astype(np.float32)
        return out
    rng = np.random.default_rng(seed)
    parts = []
    for person in np.unique(who):
        own = np.flatnonzero(who == person)
        if len(own) < samples:
            continue
        others = vectors[who != person]
        for chosen in _subsets(own, samples, subsets, rng):
            t = template_vectors(vectors[chosen], template)
            parts.append((others @ t.T).max(axis=1))
    if not parts:
        raise InvalidInput(f"nobody has {samples} images to build {template} templates from")
    return np.concatenate(parts).astype(np.float32)


def _subsets(
    items: npt.NDArray[np.intp], k: int, most: int, rng: np.random.Generator
) -> list[npt.NDArray[np.intp]]:
    """Up to ``most`` distinct random k-subsets of ``items`` (all of them when there are fewer)."""
    if math.comb(len(items), k) <= most:
        return [np.array(c) for c in itertools.combinations(items, k)]
    seen: set[tuple[int, ...]] = set()
    while len(seen) < most:
        seen.add(tuple(sorted(rng.choice(items, k, replace=False).tolist())))
    return [np.array(c) for c in sorted(seen)]


def fit_model(
    vectors: npt.NDArray[np.float32],
    people: list[str] | npt.NDArray[np.str_],
    *,
    max_samples: int = MAX_SAMPLES,
    source: str = "",
) -> NonMatedModel:
    """Fit the non-mated tables of both template rules for 1..``max_samples`` samples per person
    from labelled vectors (N, D) float32, L2-normalised (rows without a face left out)."""
    single = fit_table(non_mated_scores(vectors, people, template="mean", samples=1))
    tables: dict[str, dict[int, FmrTable]] = {t: {1: single} for t in TEMPLATES}
    for template in TEMPLATES:
        for k in range(2, max_samples + 1):
            try:
                scores = non_mated_scores(vectors, people, template=template, samples=k)
                tables[template][k] = fit_table(scores)
            except InvalidInput:
                break
    return NonMatedModel(tables, source=source)


class NonMatedModel:
    """The FMR tables of one embedding space, by template rule and samples per person."""

    def __init__(self, tables: Mapping[str, Mapping[int, FmrTable]], *, source: str = "") -> None:
        self.tables = {t: dict(sorted(k.items())) for t, k in tables.items()}
        self.source = source

    def as_dict(self) -> dict[str, Any]:
        return {
            "calibrated_on": self.source,
            "tables": {
                t: {str(k): table.as_dict() for k, table in by_k.items()}
                for t, by_k in self.tables.items()
            },
        }

    def table(self, template: str, samples: int) -> FmrTable:
        if template not in self.tables:
            known = ", ".join(self.tables)
            raise InvalidInput(f"template must be one of {known}, got {template!r}")
        by_k = self.tables[template]
        k = min(max(1, samples), max(by_k))
        while k not in by_k:
            k -= 1
        return by_k[k]

    def fmr(self, score: float, *, template: str, samples: int = 1) -> float:
        """How often one comparison with a stranger scores at least ``score``."""
        return float(self.table(template, samples).fmr(score))

    def fpir(self, score: float, shape: Mapping[int, int], *, template: str) -> float:
        """How often a stranger's best match in a gallery of ``shape`` (samples per person ->
        number of people) scores at least ``score``."""
        log_miss = 0.0
        for k, people in shape.items():
            if people <= 0:
                continue
            f = float(self.table(template, k).fmr(score))
            if f >= 1.0:
                return 1.0
            log_miss += people * math.log1p(-f)
        return float(-math.expm1(log_miss))

    def threshold(self, fpir: float, shape: Mapping[int, int], *, template: str) -> float:
        """The lowest score whose FPIR in this gallery is at most ``fpir`` (bisection; FPIR
        falls as the score rises)."""
        if not 0.0 < fpir < 1.0:
            raise InvalidInput(f"fpir must be between 0 and 1, got {fpir:g}")
        lo, hi = -1.0, 1.0
        if self.fpir(lo, shape, template=template) <= fpir:
            return lo
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if self.fpir(mid, shape, template=template) <= fpir:
                hi = mid
            else:
                lo = mid
        return hi


_registered: dict[str, dict[str, Any]] = {}


def register(space: EmbeddingSpace, entry: Mapping[str, Any]) -> None:
    """Calibrate ``space`` in this process: ``entry`` is shaped like one of
    ``models/thresholds.json``'s (``accuracy`` / ``fmr`` thresholds, ``nonmated`` tables, as
    :meth:`NonMatedModel.as_dict` gives); it wins over the bundled calibration. Used by
    :mod:`facewise.testing` for its fake space and by callers with their own models."""
    _registered[space_key(space)] = {**entry, "weights_sha256": space.weights_sha256}
    _model.cache_clear()


def entry_for(space: EmbeddingSpace) -> dict[str, Any] | None:
    """The calibration of ``space``: registered in this process, else bundled
    (``models/thresholds.json``), else the user's own (``FACEWISE_HOME/thresholds.json``, written
    by ``facewise calibrate``); None when it has none or only one made for other weights."""
    found = _shipped_entry(space)
    if found is not None:
        return found
    entry = _user_entry(space)
    return entry if entry and entry.get("weights_sha256") == space.weights_sha256 else None


def _shipped_entry(space: EmbeddingSpace) -> dict[str, Any] | None:
    """The registered, else the bundled, calibration of ``space`` (for its weights), or None."""
    key = space_key(space)
    for entry in (_registered.get(key), _bundled().get(key)):
        if entry and entry.get("weights_sha256") == space.weights_sha256:
            return entry
    return None


@cache
def _bundled() -> dict[str, Any]:
    return models.thresholds()


# --- the user's calibrations (facewise calibrate) ------------------------------------------------

USER_FILE = "thresholds.json"
"""The user's calibrations in ``FACEWISE_HOME``: ``{"format": 1, "spaces": {user_key: entry}}``,
each entry shaped like a bundled one plus ``"space"`` (the space it was measured in)."""
MAX_HOMES = 8
"""The most recent Engines' homes looked in (a process rarely has more than one)."""
_homes: dict[Path, None] = {}
_homes_lock = threading.Lock()


def user_key(space: EmbeddingSpace) -> str:
    """The id a user calibration is stored under: :func:`space_key` plus a digest of everything
    else the space names (weights, dimension, alignment and preprocessing), so a file re-read
    with another card, or other weights under the same name, never takes its thresholds."""
    plain = dataclasses.replace(space, flip=False).as_dict()
    digest = hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:16]
    return f"{space_key(space)}@{digest}"


def use_home(home: Path) -> None:
    """Look for user calibrations in ``home`` first (each Engine puts its settings' home in
    front; the ``FACEWISE_HOME`` of the environment is looked at last)."""
    with _homes_lock:
        _homes.pop(Path(home), None)
        rest = list(_homes)[: MAX_HOMES - 1]
        _homes.clear()
        _homes.update(dict.fromkeys([Path(home), *rest]))


def user_thresholds_path(home: Path) -> Path:
    return Path(home) / USER_FILE


def _user_homes() -> list[Path]:
    from facewise.settings import DEFAULT_HOME

    with _homes_lock:
        homes = list(_homes)
    env = Path(os.environ.get("FACEWISE_HOME", str(DEFAULT_HOME)))
    return [*homes, env] if env not in homes else homes


def _signature(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_mtime_ns, st.st_size)


@cache
def _read_user(signature: tuple[str, int, int]) -> dict[str, Any]:
    path = Path(signature[0])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"user calibrations {path}: not readable ({exc})") from None
    spaces = data.get("spaces") if isinstance(data, dict) else None
    if not isinstance(spaces, dict):
        raise ModelError(f"user calibrations {path}: no 'spaces' object")
    return spaces


def user_entries(home: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every user calibration: in ``home``, or in every home looked at (the first wins)."""
    found: dict[str, dict[str, Any]] = {}
    for folder in [home] if home is not None else _user_homes():
        sig = _signature(user_thresholds_path(folder))
        if sig is not None:
            for key, entry in _read_user(sig).items():
                found.setdefault(key, entry)
    return found


def _user_entry(space: EmbeddingSpace) -> dict[str, Any] | None:
    return user_entries().get(user_key(space))


def write_user_entry(space: EmbeddingSpace, entry: Mapping[str, Any], home: Path) -> Path:
    """Store ``entry`` as the calibration of ``space`` in ``home``'s user file (0600, written
    atomically; other spaces' entries are kept) and return the file's path."""
    from facewise.files import atomic_write, private_file

    path = user_thresholds_path(home)
    private_file(path)
    sig = _signature(path)
    spaces = dict(_read_user(sig)) if sig is not None and sig[2] > 0 else {}
    spaces[user_key(space)] = {
        **entry,
        "weights_sha256": space.weights_sha256,
        "space": space.as_dict(),
    }
    text = json.dumps({"format": 1, "spaces": spaces}, indent=2, sort_keys=True) + "\n"
    atomic_write(path, [text.encode()])
    os.chmod(path, 0o600)
    return path


@cache
def _model(space: EmbeddingSpace, user: tuple[Any, ...]) -> NonMatedModel:
    del user  # part of the cache key only: a new user calibration is read again
    entry = entry_for(space) or {}
    block = entry.get("nonmated")
    if not block:
        key = space_key(space)
        if entry.get("nonmated_missing"):
            raise ModelError(
                f"no calibrated identification model for {key!r}: {entry['nonmated_missing']}"
            )
        raise ModelError(
            f"no calibrated identification model for {key!r}; run benchmarks/identify_lfw.py "
            "--write-thresholds (bundled models) or facewise calibrate (onnx:FILE models)"
        )
    tables = {
        template: {int(k): FmrTable.from_dict(t) for k, t in block["tables"][template].items()}
        for template in TEMPLATES
    }
    return NonMatedModel(tables, source=str(block.get("calibrated_on", "")))


def nonmated_model(space: EmbeddingSpace) -> NonMatedModel:
    """The calibrated non-mated model of ``space`` (:class:`ModelError` when it has none)."""
    if _shipped_entry(space) is not None:
        return _model(space, ())  # no user file can change what this space's lookup finds
    user = tuple(_signature(user_thresholds_path(h)) for h in _user_homes())
    return _model(space, user)


def fmr_at(space: EmbeddingSpace, score: float) -> float | None:
    """How often one comparison of two different people's faces in ``space`` scores ``score``
    or more (None where the space has no calibrated model)."""
    try:
        model = nonmated_model(space)
    except ModelError:
        return None
    return model.fmr(score, template="mean", samples=1)


def identify_threshold(
    space: EmbeddingSpace, fpir: float, template: str, shape: Mapping[int, int]
) -> float:
    """The acceptance threshold for ``fpir`` in a gallery of ``shape`` (samples -> people)."""
    return nonmated_model(space).threshold(fpir, shape, template=template)


__all__ = [
    "MAX_SAMPLES",
    "TEMPLATES",
    "FmrTable",
    "NonMatedModel",
    "entry_for",
    "fit_model",
    "fit_table",
    "fmr_at",
    "identify_threshold",
    "non_mated_scores",
    "nonmated_model",
    "register",
    "template_vectors",
    "use_home",
    "user_entries",
    "user_key",
    "user_thresholds_path",
    "write_user_entry",
]
