"""Multi-object tracking metrics (CLEAR MOT and identity), with the standard definitions.

Input: per frame, the ground-truth objects and the predicted ones, each a list of
``(id, box)`` (boxes ``x1, y1, x2, y2``). A prediction can match a ground-truth object when their
IoU is at least ``iou`` (0.5).

- **MOTA** (Bernardin & Stiefelhagen 2008): per frame, ground-truth objects keep the prediction
  they were matched to on their previous match if the IoU still allows it; the others are matched
  by the Hungarian assignment maximising IoU. ``FN`` = ground-truth objects left unmatched, ``FP``
  = predictions left unmatched, ``IDSW`` = matched ground-truth objects whose prediction id
  differs from the one of their last match. ``MOTA = 1 - (FN + FP + IDSW) / GT`` where ``GT``
  counts the ground-truth boxes over all frames. (This is what ``motmetrics`` computes.)
- **IDF1** (Ristani et al. 2016): one optimal bipartite matching between whole ground-truth
  trajectories and whole predicted trajectories, maximising the number of frames on which the
  matched pair overlaps at ``iou``; ``IDTP`` = those frames, ``IDFN = GT - IDTP``,
  ``IDFP = predicted boxes - IDTP``, ``IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN)``.

:func:`drop_ignored` removes the boxes of "don't care" objects (e.g. faces more than half hidden)
and the predictions on them, before either metric is computed.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from facewise.video.tracker import Box, iou_matrix

Objects = Sequence[tuple[Hashable, Sequence[float]]]
"""One frame's objects: (id, [x1, y1, x2, y2])."""


@dataclass(frozen=True, slots=True)
class MotScores:
    frames: int
    gt: int
    """Ground-truth boxes, all frames."""
    predicted: int
    matches: int
    fn: int
    fp: int
    id_switches: int
    mota: float
    idtp: int
    idfp: int
    idfn: int
    idf1: float
    gt_tracks: int
    predicted_tracks: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _boxes(objects: Objects) -> list[Box]:
    return [np.asarray(b, dtype=np.float64) for _, b in objects]


def _assign(ious: np.ndarray[Any, np.dtype[np.float64]], iou: float) -> list[tuple[int, int]]:
    """Hungarian assignment maximising IoU among the pairs at ``iou`` or more."""
    if ious.size == 0:
        return []
    allowed = ious >= iou
    cost = np.where(allowed, 1.0 - ious, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


def drop_ignored(
    gt: Sequence[Objects],
    ignored: Sequence[Objects],
    predicted: Sequence[Objects],
    iou: float = 0.5,
) -> list[list[tuple[Hashable, Sequence[float]]]]:
    """``predicted`` without the predictions that fall on an ignored object: per frame, the
    predictions are assigned (Hungarian, IoU >= ``iou``) to the ground truth and the ignored
    objects together, and those assigned to an ignored object are removed."""
    out: list[list[tuple[Hashable, Sequence[float]]]] = []
    for g, ign, p in zip(gt, ignored, predicted, strict=True):
        if not ign or not p:
            out.append(list(p))
            continue
        everyone = [*g, *ign]
        pairs = _assign(iou_matrix(_boxes(everyone), _boxes(p)), iou)
        drop = {c for r, c in pairs if r >= len(g)}
        out.append([obj for k, obj in enumerate(p) if k not in drop])
    return out


def mot_scores(gt: Sequence[Objects], predicted: Sequence[Objects], iou: float = 0.5) -> MotScores:
    """MOTA, ID switches and IDF1 of ``predicted`` against ``gt`` (the same number of frames)."""
    if len(gt) != len(predicted):
        raise ValueError(f"{len(gt)} ground-truth frames but {len(predicted)} predicted")
    last: dict[Hashable, Hashable] = {}  # gt id -> predicted id of its last match
    n_gt = n_pred = matches = fn = fp = switches = 0
    # IDF1: per (gt id, predicted id), the frames they overlap on
    overlap: dict[tuple[Hashable, Hashable], int] = {}
    gt_len: dict[Hashable, int] = {}
    pred_len: dict[Hashable, int] = {}
    for g, p in zip(gt, predicted, strict=True):
        n_gt += len(g)
        n_pred += len(p)
        for oid, _ in g:
            gt_len[oid] = gt_len.get(oid, 0) + 1
        for hid, _ in p:
            pred_len[hid] = pred_len.get(hid, 0) + 1
        ious = iou_matrix(_boxes(g), _boxes(p))
        for r in range(len(g)):
            for c in range(len(p)):
                if ious[r, c] >= iou:
                    key = (g[r][0], p[c][0])
                    overlap[key] = overlap.get(key, 0) + 1
        # CLEAR MOT: keep last frame's correspondences that still hold, then Hungarian
        pairs: list[tuple[int, int]] = []
        pred_index = {hid: c for c, (hid, _) in enumerate(p)}
        for r, (oid, _) in enumerate(g):
            c = pred_index.get(last.get(oid, object()), -1)
            if c >= 0 and ious[r, c] >= iou and all(c != cc for _, cc in pairs):
                pairs.append((r, c))
        rows_left = [r for r in range(len(g)) if all(r != rr for rr, _ in pairs)]
        cols_left = [c for c in range(len(p)) if all(c != cc for _, cc in pairs)]
        if rows_left and cols_left:
            sub = ious[np.ix_(rows_left, cols_left)]
            pairs += [(rows_left[a], cols_left[b]) for a, b in _assign(sub, iou)]
        for r, c in pairs:
            oid, hid = g[r][0], p[c][0]
            if oid in last and last[oid] != hid:
                switches += 1
            last[oid] = hid
        matches += len(pairs)
        fn += len(g) - len(pairs)
        fp += len(p) - len(pairs)
    gt_ids, pred_ids = sorted(gt_len, key=repr), sorted(pred_len, key=repr)
    idtp = 0
    if gt_ids and pred_ids:
        gain = np.array([[overlap.get((o, h), 0) for h in pred_ids] for o in gt_ids], dtype=float)
        rows, cols = linear_sum_assignment(-gain)
        idtp = int(gain[rows, cols].sum())
    idfn, idfp = n_gt - idtp, n_pred - idtp
    denominator = 2 * idtp + idfp + idfn
    return MotScores(
        frames=len(gt),
        gt=n_gt,
        predicted=n_pred,
        matches=matches,
        fn=fn,
        fp=fp,
        id_switches=switches,
        mota=1.0 - (fn + fp + switches) / n_gt if n_gt else float("nan"),
        idtp=idtp,
        idfp=idfp,
        idfn=idfn,
        idf1=2 * idtp / denominator if denominator else float("nan"),
        gt_tracks=len(gt_ids),
        predicted_tracks=len(pred_ids),
    )


def combine(scores: Sequence[MotScores]) -> MotScores:
    """Several clips' scores as one (counts summed; MOTA and IDF1 from the sums)."""
    s = {k: sum(getattr(x, k) for x in scores) for k in MotScores.__dataclass_fields__}
    n_gt, den = s["gt"], 2 * s["idtp"] + s["idfp"] + s["idfn"]
    s["mota"] = 1.0 - (s["fn"] + s["fp"] + s["id_switches"]) / n_gt if n_gt else float("nan")
    s["idf1"] = 2 * s["idtp"] / den if den else float("nan")
    return MotScores(**s)


__all__ = ["MotScores", "Objects", "combine", "drop_ignored", "mot_scores"]
