"""How well a clustering matches the true identities: BCubed, pairwise, NMI.

``predicted`` holds one cluster id per face, ``-1`` for a face left unclustered (each such face
counts as a cluster of its own: a stranger kept alone is right when nobody else shares the
identity). ``truth`` holds one identity label per face (any hashable). Every figure is computed
with exact counts (no sampling), in O(faces) time and memory.

BCubed (Bagga & Baldwin 1998; Amigó et al. 2009): for each face, precision is the share of its
cluster with its identity and recall the share of its identity in its cluster; both are averaged
over faces and F is their harmonic mean. Pairwise: precision and recall over all pairs of faces
put together / sharing an identity.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class ClusterScores:
    faces: int
    identities: int
    clusters: int
    """Clusters of two or more faces."""
    unclustered: int
    """Faces left alone (``-1`` or a cluster of one)."""
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    nmi: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def singletons_apart(predicted: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """``predicted`` with every ``-1`` replaced by a fresh id of its own."""
    labels = np.asarray(predicted, dtype=np.int64).copy()
    alone = labels < 0
    start = int(labels.max(initial=-1)) + 1
    labels[alone] = np.arange(start, start + int(alone.sum()))
    return labels


def _f(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def score(predicted: npt.ArrayLike, truth: Sequence[Hashable]) -> ClusterScores:
    """All figures of ``predicted`` against ``truth`` (same length, one entry per face)."""
    labels = singletons_apart(predicted)
    if labels.ndim != 1 or len(labels) != len(truth):
        raise InvalidInput(f"{len(labels)} cluster labels for {len(truth)} faces")
    n = len(labels)
    if n == 0:
        raise InvalidInput("no faces to score")
    truth_ids = np.unique(np.asarray([str(t) for t in truth]), return_inverse=True)[1]
    joint = Counter(zip(labels.tolist(), truth_ids.tolist(), strict=True))
    size_c = Counter(labels.tolist())
    size_t = Counter(truth_ids.tolist())

    bp = sum(m * m / size_c[c] for (c, _), m in joint.items()) / n
    br = sum(m * m / size_t[t] for (_, t), m in joint.items()) / n

    def pairs(m: int) -> int:
        return m * (m - 1) // 2

    together = sum(pairs(m) for m in size_c.values())
    same = sum(pairs(m) for m in size_t.values())
    both = sum(pairs(m) for m in joint.values())
    pp = both / together if together else 1.0
    pr = both / same if same else 1.0

    def entropy(sizes: Counter[int]) -> float:
        return -sum(m / n * math.log(m / n) for m in sizes.values())

    mutual = sum(m / n * math.log(m * n / (size_c[c] * size_t[t])) for (c, t), m in joint.items())
    h_c, h_t = entropy(size_c), entropy(size_t)
    nmi = 1.0 if h_c + h_t == 0 else 2 * mutual / (h_c + h_t)

    return ClusterScores(
        faces=n,
        identities=len(size_t),
        clusters=sum(1 for m in size_c.values() if m >= 2),
        unclustered=sum(1 for m in size_c.values() if m == 1),
        bcubed_precision=bp,
        bcubed_recall=br,
        bcubed_f=_f(bp, br),
        pairwise_precision=pp,
        pairwise_recall=pr,
        pairwise_f=_f(pp, pr),
        nmi=nmi,
    )


__all__ = ["ClusterScores", "score", "singletons_apart"]
