"""Demographic differentials: false-match and false-non-match rates per group at one threshold.

One global threshold for everyone — the deployment reality: by default the calibrated ``fmr``
threshold of the embedding space (``facewise.compare.threshold``), or one given, or the one that
gives a target FAR over all impostor pairs of this evaluation. A pair belongs to a group when both
images carry that group's label; impostor pairs across two groups are reported separately
(genuine pairs across groups, where labels disagree, are counted as such).

Pairs come from a pairs file (for example LFW's official pairs), or are *all* pairs of the
manifest's images (every same-identity pair genuine, every other pair an impostor) — the only way
to see false-match rates near 1e-3 per group on a dataset the size of LFW.

Intervals: Clopper–Pearson 95%, which treats pairs as independent (pairs sharing an image or a
person are not, so the intervals are on the optimistic side). A group gets a warning when it has
fewer than ``min_pairs`` pairs of a kind (too small to judge), or fewer than 30 errors
(Doddington's rule of 30: below that, the observed rate is not within ±30% of the true one with 90%
confidence). The max/min ratio of a rate over the groups comes with a conservative interval (the
extreme groups' 95% bounds divided crosswise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.evaluate import metrics
from facewise.evaluate.cache import Pipeline, Progress, embed_images, has_vector
from facewise.evaluate.datasets import DatasetError, Manifest, PairSet
from facewise.evaluate.result import INTERNAL, LabResult
from facewise.evaluate.verify import score_pairs
from facewise.settings import Settings, load_settings

MIN_PAIRS = 100
RULE_OF = 30
BINS = np.linspace(-1.0, 1.0, 401)
BLOCK = 1024


@dataclass(frozen=True, kw_only=True, eq=False)
class FairnessResult(LabResult):
    """Per-group error rates at one threshold, in the order ``--json`` prints them; each group's
    genuine and impostor score histograms (over :data:`BINS`) are kept for the report."""

    kind = "fairness"
    group_column: str
    pairs_source: str
    dataset: dict[str, Any]
    pipeline: dict[str, Any]
    threshold: float
    threshold_source: str
    overall: dict[str, Any]
    groups: list[dict[str, Any]]
    cross_group: list[dict[str, Any]]
    fmr_ratio: dict[str, Any]
    fnmr_ratio: dict[str, Any]
    unlabelled: int
    failed_images: int
    failures: list[dict[str, str]]
    min_pairs: int
    warnings: list[str]
    hists: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = field(
        metadata=INTERNAL, repr=False
    )


@dataclass(slots=True)
class Tally:
    """Counts for one group (or one pair of groups) at the threshold, and score histograms."""

    genuine: int = 0
    false_non_matches: int = 0
    impostor: int = 0
    false_matches: int = 0
    hist_genuine: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(len(BINS) - 1, np.int64)
    )
    hist_impostor: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(len(BINS) - 1, np.int64)
    )

    def add(
        self, scores: npt.NDArray[np.float64], same: npt.NDArray[np.bool_], threshold: float
    ) -> None:
        accepted = scores >= threshold
        self.genuine += int(same.sum())
        self.false_non_matches += int((same & ~accepted).sum())
        self.impostor += int((~same).sum())
        self.false_matches += int((~same & accepted).sum())
        finite = np.isfinite(scores)
        self.hist_genuine += np.histogram(scores[same & finite], BINS)[0]
        self.hist_impostor += np.histogram(scores[~same & finite], BINS)[0]

    def figures(self, min_pairs: int, *, across: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind, n, k, rate in (
            ("fnmr", self.genuine, self.false_non_matches, "genuine_pairs"),
            ("fmr", self.impostor, self.false_matches, "impostor_pairs"),
        ):
            out[rate] = n
            out["false_non_matches" if kind == "fnmr" else "false_matches"] = k
            out[kind] = k / n if n else None
            out[f"{kind}_ci95"] = metrics.clopper_pearson(k, n) if n else None
        out["warnings"] = self.warnings(min_pairs, across=across)
        return out

    def warnings(self, min_pairs: int, *, across: bool = False) -> list[str]:
        """Why a rate cannot be judged; across groups only the impostor side is meant to exist."""
        notes = []
        kinds = [("impostor", self.impostor, self.false_matches)]
        if not across:
            kinds.insert(0, ("genuine", self.genuine, self.false_non_matches))
        for what, n, k in kinds:
            error = "false non-matches" if what == "genuine" else "false matches"
            if n == 0:
                notes.append(f"no {what} pairs")
            elif n < min_pairs:
                notes.append(f"too small to judge: {n} {what} pairs (< {min_pairs})")
            elif k < RULE_OF:
                notes.append(
                    f"{k} {error} in {n:,} {what} pairs (< {RULE_OF}, rule of 30): "
                    "the rate is known only to its interval"
                )
        return notes


def _rows_by_group(labels: list[str]) -> dict[str, npt.NDArray[np.int64]]:
    groups: dict[str, list[int]] = {}
    for i, g in enumerate(labels):
        if g:
            groups.setdefault(g, []).append(i)
    return {g: np.array(idx, dtype=np.int64) for g, idx in sorted(groups.items())}


def _blocks(va: npt.NDArray[np.float32], vb: npt.NDArray[np.float32], same_set: bool) -> Any:
    """Yield (row slice start, scores block, valid mask) over va x vb; with ``same_set`` only
    pairs i < j."""
    ok_a, ok_b = has_vector(va), has_vector(vb)
    a = np.where(ok_a[:, None], va, 0).astype(np.float32)
    b = np.where(ok_b[:, None], vb, 0).astype(np.float32)
    for start in range(0, len(a), BLOCK):
        stop = min(len(a), start + BLOCK)
        sims = (a[start:stop] @ b.T).astype(np.float64)
        sims[~(ok_a[start:stop, None] & ok_b[None, :])] = -np.inf
        if same_set:
            valid = np.arange(len(b))[None, :] > np.arange(start, stop)[:, None]
        else:
            valid = np.ones(sims.shape, dtype=bool)
        yield start, stop, sims, valid


def all_pairs_tallies(
    vectors: npt.NDArray[np.float32],
    identities: list[str],
    labels: list[str],
    threshold: float,
) -> tuple[dict[str, Tally], dict[str, Tally]]:
    """Tallies of every pair of images: within each group, and across each two groups."""
    ids = np.unique(np.array(identities), return_inverse=True)[1]
    groups = _rows_by_group(labels)
    within: dict[str, Tally] = {}
    across: dict[str, Tally] = {}
    for g, rows in groups.items():
        tally = within[g] = Tally()
        for start, stop, sims, valid in _blocks(vectors[rows], vectors[rows], True):
            same = ids[rows][start:stop, None] == ids[rows][None, :]
            tally.add(sims[valid], same[valid], threshold)
    for g1, g2 in combinations(groups, 2):
        tally = across[f"{g1} × {g2}"] = Tally()
        r1, r2 = groups[g1], groups[g2]
        for start, stop, sims, valid in _blocks(vectors[r1], vectors[r2], False):
            same = ids[r1][start:stop, None] == ids[r2][None, :]
            tally.add(sims[valid], same[valid], threshold)
    return within, across


def all_impostor_threshold(
    vectors: npt.NDArray[np.float32], identities: list[str], far: float
) -> tuple[float, int]:
    """(threshold, impostor pairs) at FAR ``far`` over every cross-identity pair of the images:
    the same threshold as :func:`metrics.threshold_at_fmr` on all their scores, keeping only the
    highest scores in memory."""
    ids = np.unique(np.array(identities), return_inverse=True)[1]
    n = len(vectors)
    cap = int(np.floor(far * n * (n - 1) / 2)) + 1  # >= the rank needed, whatever the count
    keep = np.empty(0)
    n_imp = 0
    for start, stop, sims, valid in _blocks(vectors, vectors, True):
        scores = sims[valid & (ids[start:stop, None] != ids[None, :])]
        n_imp += scores.size
        merged = np.concatenate([keep, scores])
        keep = np.partition(merged, merged.size - cap)[-cap:] if merged.size > cap else merged
    if n_imp == 0:
        raise DatasetError("no impostor pairs: every image shows the same person")
    # as metrics.threshold_at_fmr over all n_imp scores: accept strictly above the allowed-th
    allowed = int(np.floor(far * n_imp))
    ordered = np.sort(keep)[::-1]
    if allowed >= ordered.size:
        return float(ordered[-1]), n_imp
    return float(np.nextafter(ordered[allowed], np.inf)), n_imp


def pair_tallies(
    pairs: PairSet, scores: npt.NDArray[np.float64], group_of: dict[str, str], threshold: float
) -> tuple[dict[str, Tally], dict[str, Tally], int]:
    """Tallies of a pairs file's pairs by the groups of their two images; and how many pairs
    have an unlabelled side."""
    within: dict[str, Tally] = {}
    across: dict[str, Tally] = {}
    keys: list[tuple[str, str] | None] = []
    unlabelled = 0
    for a, b in zip(pairs.path_a, pairs.path_b, strict=True):
        ga, gb = group_of.get(a), group_of.get(b)
        if ga is None or gb is None:
            keys.append(None)
            unlabelled += 1
        elif ga == gb:
            keys.append(("within", ga))
        else:
            keys.append(("across", " × ".join(sorted((ga, gb)))))
    for g in sorted(set(group_of.values())):
        within[g] = Tally()
    for key in sorted({k for k in keys if k is not None}):
        target = within if key[0] == "within" else across
        mask = np.array([k == key for k in keys])
        target.setdefault(key[1], Tally()).add(scores[mask], pairs.same[mask], threshold)
    return within, across, unlabelled


def _ratio(rows: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The highest group's rate over the lowest's, with a conservative interval."""
    have = sorted((r for r in rows if r[kind] is not None), key=lambda r: r[kind])
    if len(have) < 2:
        return {"value": None, "note": "fewer than two groups with pairs"}
    lo, hi = have[0], have[-1]
    if hi[kind] == 0:
        return {"value": None, "note": "no errors in any group: no ratio to speak of"}
    value = hi[kind] / lo[kind] if lo[kind] > 0 else None
    lo_ci, hi_ci = lo[f"{kind}_ci95"], hi[f"{kind}_ci95"]
    interval = [
        hi_ci[0] / lo_ci[1] if lo_ci[1] > 0 else None,
        hi_ci[1] / lo_ci[0] if lo_ci[0] > 0 else None,
    ]
    return {
        "value": value,
        "max_group": hi["group"],
        "min_group": lo["group"],
        "interval": interval,
        "judgeable": not (hi["warnings"] or lo["warnings"]),
        "note": "" if value is not None else f"{lo['group']} has no errors: the ratio is unbounded",
    }


def run_fairness(
    manifest: Manifest,
    group: str,
    pipeline: Pipeline,
    *,
    pairs: PairSet | None = None,
    threshold: float | None = None,
    operating_point: str | None = None,
    far: float | None = None,
    min_pairs: int = MIN_PAIRS,
    settings: Settings | None = None,
    cache_dir: Path | str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> FairnessResult:
    """Per-group FMR and FNMR at one threshold (see the module notes for the choices)."""
    settings = settings or load_settings()
    group_of = manifest.group_of(group)
    if not group_of:
        raise DatasetError(f"column {group!r} of {manifest.source} has no values")
    if sum(x is not None for x in (threshold, operating_point, far)) > 1:
        raise DatasetError("give one of threshold, operating point (--threshold-at) or --far")
    paths = pairs.images() if pairs is not None else manifest.paths
    root = pairs.root if pairs is not None else manifest.root
    [embedded] = embed_images(
        root,
        paths,
        [pipeline],
        cache_dir=cache_dir,
        settings=settings,
        workers=workers,
        progress=progress,
    )
    space = embedded.space
    scores = None
    vectors = identities = labels = None
    if pairs is not None:
        scores, _ = score_pairs(pairs, embedded)
    else:
        vectors = embedded.vectors[embedded.rows(manifest.paths)]
        identities = manifest.identities
        labels = [group_of.get(p, "") for p in manifest.paths]
    impostors_for_far = None
    if threshold is not None:
        source = "given"
    elif far is not None:
        if scores is not None and pairs is not None:
            threshold = metrics.threshold_at_fmr(scores[~pairs.same], far)
            impostors_for_far = int((~pairs.same).sum())
        else:
            assert vectors is not None and identities is not None
            threshold, impostors_for_far = all_impostor_threshold(vectors, identities, far)
        source = f"FAR {far:g} over all {impostors_for_far:,} impostor pairs of this evaluation"
    else:
        from facewise.compare import threshold as calibrated

        point = operating_point or "fmr"
        threshold = calibrated(space, point)  # type: ignore[arg-type]
        source = (
            f"calibrated '{point}' threshold of {space.model}{'+flip' if space.flip else ''} "
            "(facewise/models/thresholds.json)"
        )
    if pairs is not None:
        assert scores is not None
        within, across, unlabelled = pair_tallies(pairs, scores, group_of, threshold)
        overall = Tally()
        overall.add(scores, pairs.same, threshold)
        mode = "pairs file"
    else:
        assert vectors is not None and identities is not None and labels is not None
        within, across = all_pairs_tallies(vectors, identities, labels, threshold)
        overall = Tally()
        for t in (*within.values(), *across.values()):
            for name in ("genuine", "false_non_matches", "impostor", "false_matches"):
                setattr(overall, name, getattr(overall, name) + getattr(t, name))
        unlabelled = sum(1 for p in manifest.paths if p not in group_of)
        mode = "all pairs of the manifest images"
    if not any(t.genuine + t.impostor for t in within.values()):
        raise DatasetError(f"no pair has both images labelled in column {group!r}")
    rows = [{"group": g, **t.figures(min_pairs)} for g, t in within.items()]
    cross = [{"groups": g, **t.figures(min_pairs, across=True)} for g, t in across.items()]
    warnings = [f"{r['group']}: {w}" for r in rows for w in r["warnings"]]
    return FairnessResult(
        group_column=group,
        pairs_source=mode,
        dataset={
            "manifest": manifest.source,
            "pairs": pairs.source if pairs is not None else None,
            "root": str(root),
        },
        pipeline={**pipeline.as_dict(), "space": space.as_dict()},
        threshold=threshold,
        threshold_source=source,
        overall=overall.figures(min_pairs),
        groups=rows,
        cross_group=cross,
        fmr_ratio=_ratio(rows, "fmr"),
        fnmr_ratio=_ratio(rows, "fnmr"),
        unlabelled=unlabelled,
        failed_images=len(embedded.failures()),
        failures=embedded.failures()[:100],
        min_pairs=min_pairs,
        warnings=warnings,
        hists={g: (t.hist_genuine, t.hist_impostor) for g, t in within.items()},
    )
