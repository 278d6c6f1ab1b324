"""Clustering the faces of an unlabelled collection by person, with thresholds from calibration.

The algorithm (``cluster_vectors``):

1. **Neighbours.** Each face's ``params.neighbours`` nearest faces by cosine (exact: numpy in
   blocks, or FAISS's exact inner-product search for large collections when it is installed;
   :mod:`facewise.cluster.knn`). Only these pairs are ever candidates for a merge, so the work is
   O(N k) after the search.
2. **Calibrated average linkage.** Every face starts alone (faces pinned to one label start as one
   cluster). For L2-normalised vectors the average pairwise cosine of clusters A and B is
   ``sum(A) . sum(B) / (|A| |B|)``, exact from the running sums whatever the graph. Two
   graph-adjacent clusters may merge while that average is at least their threshold
   ``t(|A|, |B|)``; the pair with the largest margin over its threshold merges first (or the
   highest average: ``order``). Merges that would join faces that must stay apart (a cannot-link
   pair, two different pinned labels) are skipped.
3. **The threshold from calibration.** ``t(1, 1)`` is the cosine whose single-comparison
   false-match rate is ``params.false_links / N``: in a collection of N faces, a face expects
   about ``false_links`` strangers to score that much against it. It is a rate, not a cosine, so
   it carries over to another embedding space and collection size. The average of the m x n
   comparisons of two clusters of strangers is steadier than one comparison, so larger clusters
   merge at a lower average: ``t(m, n) = median + (t(1, 1) - median) * sqrt(shared + (1 -
   shared) / (m n))``, ``median`` the strangers' median score (FMR 0.5) and ``shared`` the part
   of the spread that does not average away (``shared_variance``, chosen on LFW half A).
4. **Outliers** (off by default: it cost 0.2 points on LFW half A). A face (not pinned) whose
   cosine to the mean of the rest of its cluster is below ``t(1, size - 1)`` is detached. A face
   alone at the end is ``-1``: a stranger seen once.

``extend`` adds faces to a clustered collection without re-clustering it: the old clusters become
fixed super-nodes (their sums and sizes), and only the new faces, the old unclustered faces among
their neighbours, and the old clusters those neighbours belong to take part.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facewise.cluster.knn import knn, knn_against
from facewise.errors import InvalidInput

FmrFunction = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]
"""Cosine score(s) -> the false-match rate of one comparison with a stranger (vectorised)."""


@dataclass(frozen=True, slots=True)
class ClusterParams:
    """Every knob of :func:`cluster_vectors` and :func:`extend`.

    The link threshold is never a cosine: it is derived from the calibrated ``fmr`` and the
    collection size through ``false_links``.
    """

    false_links: float = 0.15
    """Expected strangers per face above the link threshold: the threshold is the cosine with
    single-comparison FMR ``false_links / N`` (N faces in the collection)."""
    min_fmr: float = 1e-9
    """Floor of the FMR budget (a huge collection never asks for a threshold past the data)."""
    max_fmr: float = 1e-2
    """Ceiling of the FMR budget (a tiny collection never links near-strangers)."""
    shared_variance: float = 0.7
    """How much of a non-mated score's spread around the strangers' median is shared by every
    comparison of the same two people (1: all of it, plain average linkage at one threshold; less:
    the average over m x n comparisons of two clusters is steadier than one score, so larger
    clusters merge at a lower average). The threshold for clusters of sizes m and n is
    ``median + (t - median) * sqrt(shared + (1 - shared) / (m n))``, ``median`` the score with FMR
    0.5 and ``t`` the single-comparison threshold."""
    face_variance: float = 0.0
    """The share of that spread owned by one face of the pair (a poor photo scores oddly against
    everyone): it averages away over the other cluster's faces only, so the factor becomes
    ``sqrt(shared + face (1/m + 1/n) + (1 - shared - 2 face) / (m n))``."""
    order: str = "margin"
    """Which allowed merge comes first: the highest average cosine (``"similarity"``) or the
    largest margin over the pair's threshold (``"margin"``)."""
    neighbours: int = 10
    """Nearest neighbours per face: the only pairs considered for a merge."""
    detach_outliers: bool = False
    """Detach a face whose cosine to the mean of the rest of its cluster is below the threshold."""
    exact_limit: int = 20_000
    """Up to this many faces the neighbour search is numpy; above it FAISS when installed."""

    def __post_init__(self) -> None:
        if not self.false_links > 0:
            raise InvalidInput("false_links must be positive")
        if not 0 < self.min_fmr <= self.max_fmr <= 1:
            raise InvalidInput("need 0 < min_fmr <= max_fmr <= 1")
        if not (self.face_variance >= 0 and self.shared_variance + 2 * self.face_variance <= 1):
            raise InvalidInput("need face_variance >= 0 and shared + 2 face_variance <= 1")
        if self.order not in ("similarity", "margin"):
            raise InvalidInput("order must be 'similarity' or 'margin'")
        if self.neighbours < 1:
            raise InvalidInput("neighbours must be at least 1")


def link_threshold(fmr: FmrFunction, faces: int, params: ClusterParams) -> float:
    """The cosine at which one comparison's FMR is the budget ``false_links / faces`` (clipped to
    ``[min_fmr, max_fmr]``), found by bisection on the decreasing ``fmr``."""
    budget = min(max(params.false_links / max(faces, 1), params.min_fmr), params.max_fmr)
    return _inverse(fmr, budget)


@dataclass(frozen=True, slots=True)
class LinkRule:
    """The merge threshold of two clusters as a function of their sizes (see ClusterParams)."""

    single: float
    """Threshold of one comparison (FMR = the budget)."""
    median: float
    """The strangers' median score (FMR 0.5)."""
    shared: float
    face: float = 0.0

    def at_many(
        self, m: npt.NDArray[np.int64], n: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        mf, nf = m.astype(np.float64), n.astype(np.float64)
        rest = 1.0 - self.shared - 2 * self.face
        factor = np.sqrt(self.shared + self.face * (1 / mf + 1 / nf) + rest / (mf * nf))
        out: npt.NDArray[np.float64] = self.median + (self.single - self.median) * factor
        return out

    def at(self, m: float, n: float) -> float:
        m, n = float(m), float(n)  # plain floats: called once per candidate merge
        rest = 1.0 - self.shared - 2 * self.face
        factor = math.sqrt(self.shared + self.face * (1 / m + 1 / n) + rest / (m * n))
        return self.median + (self.single - self.median) * factor


def _inverse(fmr: FmrFunction, target: float) -> float:
    lo, hi = -1.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(np.asarray(fmr(np.asarray([mid], dtype=np.float64))).reshape(-1)[0]) > target:
            lo = mid
        else:
            hi = mid
    return hi


def link_rule(fmr: FmrFunction, faces: int, params: ClusterParams) -> LinkRule:
    """The :class:`LinkRule` for a collection of ``faces`` faces."""
    return LinkRule(
        link_threshold(fmr, faces, params),
        _inverse(fmr, 0.5),
        float(params.shared_variance),
        float(params.face_variance),
    )


def _check_vectors(vectors: npt.ArrayLike, name: str) -> npt.NDArray[np.float32]:
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise InvalidInput(f"{name} must be a 2-D array of vectors, got shape {v.shape}")
    if v.size and not np.isfinite(v).all():
        raise InvalidInput(f"{name} contains NaN or infinite values")
    return v


def _pairs(cannot_link: Iterable[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    out = []
    for a, b in cannot_link:
        a, b = int(a), int(b)
        if not (0 <= a < n and 0 <= b < n):
            raise InvalidInput(f"cannot-link pair ({a}, {b}) outside 0..{n - 1}")
        if a != b:
            out.append((a, b))
    return out


class _Agglomeration:
    """Average linkage over a sparse candidate graph of nodes (a node: a face, or a fixed group
    of faces given by its sum vector and size)."""

    def __init__(
        self,
        sums: npt.NDArray[np.float64],
        sizes: npt.NDArray[np.int64],
        pinned: npt.NDArray[np.int64],
        edges: npt.NDArray[np.int64],
        cannot: list[tuple[int, int]],
        *,
        by_margin: bool = False,
    ) -> None:
        n = len(sizes)
        self.by_margin = by_margin
        self.sums = sums
        self.sizes = sizes.copy()
        self.pinned = pinned.copy()  # label a node is pinned to, or -1
        self.parent = np.arange(n)
        self.members: list[list[int]] = [[i] for i in range(n)]
        self.adjacent: list[set[int]] = [set() for _ in range(n)]
        for a, b in edges.tolist():
            if a != b:
                self.adjacent[a].add(b)
                self.adjacent[b].add(a)
        self.apart: list[set[int]] = [set() for _ in range(n)]
        for a, b in cannot:
            self.apart[a].add(b)
            self.apart[b].add(a)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = int(self.parent[root])
        while self.parent[i] != root:
            self.parent[i], i = root, int(self.parent[i])
        return root

    def _similarity(self, a: int, b: int) -> float:
        return float(self.sums[a] @ self.sums[b]) / float(self.sizes[a] * self.sizes[b])

    def _allowed(self, a: int, b: int) -> bool:
        pa, pb = int(self.pinned[a]), int(self.pinned[b])
        if pa >= 0 and pb >= 0 and pa != pb:
            return False
        small, large = (a, b) if len(self.apart[a]) <= len(self.apart[b]) else (b, a)
        return not any(self.find(x) == large for x in self.apart[small])

    def merge(self, a: int, b: int) -> int:
        """Merge roots ``a`` and ``b``; the smaller id stays the root (deterministic)."""
        a, b = min(a, b), max(a, b)
        self.parent[b] = a
        self.sums[a] = self.sums[a] + self.sums[b]
        self.sizes[a] += self.sizes[b]
        self.pinned[a] = max(self.pinned[a], self.pinned[b])
        self.members[a].extend(self.members[b])
        self.members[b] = []
        self.apart[a] = {self.find(x) for x in self.apart[a] | self.apart[b]}
        self.apart[b] = set()
        self.adjacent[a] = {self.find(x) for x in self.adjacent[a] | self.adjacent[b]} - {a}
        self.adjacent[b] = set()
        for c in self.adjacent[a]:
            self.adjacent[c].discard(b)
            self.adjacent[c].add(a)
        for c in self.apart[a]:
            self.apart[c].discard(b)
            self.apart[c].add(a)
        return a

    def run(self, rule: LinkRule) -> npt.NDArray[np.int64]:
        """Merge while the best adjacent pair's average cosine is >= ``threshold``."""
        n = len(self.sizes)
        version = np.zeros(n, dtype=np.int64)
        heap: list[tuple[float, int, int, int, int]] = []
        pairs = np.asarray(
            [(a, b) for a in range(n) if self.parent[a] == a for b in self.adjacent[a] if a < b],
            dtype=np.int64,
        ).reshape(-1, 2)
        if len(pairs):
            a_, b_ = pairs[:, 0], pairs[:, 1]
            sims = np.einsum("ij,ij->i", self.sums[a_], self.sums[b_]) / (
                self.sizes[a_] * self.sizes[b_]
            )
            limits = rule.at_many(self.sizes[a_], self.sizes[b_])
            ok = sims >= limits
            keys = sims - limits if self.by_margin else sims
            heap = [
                (-float(x), int(a), int(b), 0, 0)
                for x, a, b in zip(keys[ok], a_[ok], b_[ok], strict=True)
            ]
        heapq.heapify(heap)
        while heap:
            _, a, b, va, vb = heapq.heappop(heap)
            if version[a] != va or version[b] != vb:
                continue  # stale: one side merged since
            if self.parent[a] != a or self.parent[b] != b or not self._allowed(a, b):
                continue
            root = self.merge(a, b)
            gone = a + b - root
            version[root] += 1
            version[gone] = -1
            for c in self.adjacent[root]:
                s = self._similarity(root, c)
                limit = rule.at(self.sizes[root], self.sizes[c])
                if s >= limit:
                    x, y = min(root, c), max(root, c)
                    key = s - limit if self.by_margin else s
                    heapq.heappush(heap, (-key, x, y, int(version[x]), int(version[y])))
        return np.array([self.find(i) for i in range(n)], dtype=np.int64)


def _finish(
    roots: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    pinned: npt.NDArray[np.int64],
    rule: LinkRule,
    params: ClusterParams,
) -> npt.NDArray[np.int64]:
    """Per-face roots -> labels: outliers detached, singletons -1, pinned labels reused, new
    clusters numbered from max(pinned) + 1 in order of their first face."""
    n = len(roots)
    roots = roots.copy()
    if params.detach_outliers and n:
        order = np.argsort(roots, kind="stable")
        bounds = np.flatnonzero(np.diff(roots[order])) + 1
        for group in np.split(order, bounds):
            if len(group) < 3:
                continue
            total = vectors[group].astype(np.float64).sum(axis=0)
            rest = total[None, :] - vectors[group]
            sims = np.einsum("ij,ij->i", vectors[group].astype(np.float64), rest)
            sims /= len(group) - 1
            out = (sims < rule.at(1, len(group) - 1)) & (pinned[group] < 0)
            roots[group[out]] = -1 - group[out]  # alone
    labels = np.full(n, -1, dtype=np.int64)
    first = max(int(pinned.max(initial=-1)), -1) + 1
    uniq, inverse, counts = np.unique(roots, return_inverse=True, return_counts=True)
    seen: dict[int, int] = {}
    for i in range(n):
        g = int(inverse[i])
        p = int(pinned[i])
        if p >= 0:
            labels[i] = p
            seen.setdefault(g, p)
    for i in range(n):
        g = int(inverse[i])
        if labels[i] >= 0:
            continue
        if g in seen:
            labels[i] = seen[g]
        elif counts[g] >= 2:
            seen[g] = first
            labels[i] = first
            first += 1
    del uniq
    return labels


def cluster_vectors(
    vectors: npt.NDArray[np.float32],
    *,
    fmr: FmrFunction,
    fixed: Mapping[int, int] | None = None,
    cannot_link: Iterable[tuple[int, int]] = (),
    params: ClusterParams = ClusterParams(),
    knn_graph: Callable[..., tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = knn,
) -> npt.NDArray[np.int64]:
    """Cluster labels (N,) for L2-normalised ``vectors`` (N, D) of one space; ``-1`` unclustered.

    ``knn_graph(vectors, k, exact_limit=)`` gives each row's k nearest other rows (default
    :func:`facewise.cluster.knn.knn`; :func:`facewise.cluster.distributed.sharded_knn` searches
    shards of the vectors on a Ray cluster and merges them, with the same answer).

    ``fmr`` maps cosine scores to the false-match rate of one comparison with a stranger (in
    production ``calibration.nonmated_model(space).table("mean", 1).fmr``). ``fixed`` pins faces
    to labels the user decided: faces pinned to one label end together under it, faces pinned to
    different labels never share a cluster, unpinned faces may join. ``cannot_link`` pairs never
    share a cluster. New clusters get ids above the largest pinned label. Deterministic.
    """
    v = _check_vectors(vectors, "vectors")
    n = len(v)
    pinned = np.full(n, -1, dtype=np.int64)
    for face, label in (fixed or {}).items():
        if not 0 <= int(face) < n:
            raise InvalidInput(f"fixed face {face} outside 0..{n - 1}")
        if int(label) < 0:
            raise InvalidInput(f"fixed label {label} must be >= 0")
        pinned[int(face)] = int(label)
    cannot = _pairs(cannot_link, n)
    for a, b in cannot:
        if pinned[a] >= 0 and pinned[a] == pinned[b]:
            raise InvalidInput(f"faces {a} and {b} are pinned together but must stay apart")
    if n == 0:
        return np.empty(0, dtype=np.int64)
    rule = link_rule(fmr, n, params)
    neighbours, _ = knn_graph(v, min(params.neighbours, n - 1), exact_limit=params.exact_limit)
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    edges = np.stack([rows, neighbours.reshape(-1)], axis=1)
    edges = edges[edges[:, 1] >= 0]
    # faces pinned to one label start as one node: chain them with edges, merge them first
    groups: dict[int, list[int]] = {}
    for i in np.flatnonzero(pinned >= 0).tolist():
        groups.setdefault(int(pinned[i]), []).append(i)
    agg = _Agglomeration(
        v.astype(np.float64),
        np.ones(n, dtype=np.int64),
        pinned,
        edges,
        cannot,
        by_margin=params.order == "margin",
    )
    for members in groups.values():
        for other in members[1:]:
            _force_merge(agg, members[0], other)
    roots = agg.run(rule)
    return _finish(roots, v, pinned, rule, params)


def _force_merge(agg: _Agglomeration, a: int, b: int) -> None:
    ra, rb = agg.find(a), agg.find(b)
    if ra != rb:
        agg.merge(ra, rb)


def extend(
    old_vectors: npt.NDArray[np.float32],
    old_labels: npt.NDArray[np.int64],
    new_vectors: npt.NDArray[np.float32],
    *,
    fmr: FmrFunction,
    cannot_link: Iterable[tuple[int, int]] = (),
    params: ClusterParams = ClusterParams(),
) -> npt.NDArray[np.int64]:
    """Labels (M+K,) for a collection of M clustered faces plus K new ones, without re-clustering:
    old clustered faces keep their labels, old unclustered faces may join clusters, new clusters
    get ids above ``max(old_labels)``. ``cannot_link`` indexes the concatenation old + new."""
    old = _check_vectors(old_vectors, "old_vectors")
    new = _check_vectors(new_vectors, "new_vectors")
    labels = np.asarray(old_labels, dtype=np.int64).reshape(-1)
    m, k = len(old), len(new)
    if len(labels) != m:
        raise InvalidInput(f"{len(labels)} old labels for {m} old vectors")
    if m and k and old.shape[1] != new.shape[1]:
        raise InvalidInput("old and new vectors differ in dimension")
    total = m + k
    cannot = _pairs(cannot_link, total)
    if k == 0:
        return labels.copy()
    if m == 0:
        return cluster_vectors(new, fmr=fmr, cannot_link=cannot, params=params)
    rule = link_rule(fmr, total, params)
    every = np.concatenate([old, new])
    # the new faces' neighbours among old + new
    kk = min(params.neighbours, total - 1)
    neighbours, _ = knn_against(new, every, kk + 1, exact_limit=params.exact_limit)
    # nodes: one per old cluster touched, one per old unclustered face touched, one per new face
    node_of: dict[tuple[str, int], int] = {}
    node_faces: list[list[int]] = []

    def node(key: tuple[str, int], faces: list[int]) -> int:
        if key not in node_of:
            node_of[key] = len(node_faces)
            node_faces.append(faces)
        return node_of[key]

    by_label: dict[int, list[int]] = {}
    touched = set()
    for j in neighbours.reshape(-1).tolist():
        if 0 <= j < m and labels[j] >= 0:
            touched.add(int(labels[j]))
    if touched:
        clustered = np.flatnonzero(np.isin(labels, np.fromiter(touched, dtype=np.int64)))
        for j in clustered.tolist():
            by_label.setdefault(int(labels[j]), []).append(j)

    def node_for_face(j: int) -> int:
        if j >= m:
            return node(("face", j), [j])
        lab = int(labels[j])
        if lab >= 0:
            return node(("label", lab), by_label[lab])
        return node(("face", j), [j])

    new_nodes = [node_for_face(m + i) for i in range(k)]
    edge_list: list[tuple[int, int]] = []
    for i in range(k):
        for j in neighbours[i].tolist():
            if j >= 0 and j != m + i:
                edge_list.append((new_nodes[i], node_for_face(int(j))))
    size = len(node_faces)
    sums = np.zeros((size, every.shape[1]), dtype=np.float64)
    sizes = np.zeros(size, dtype=np.int64)
    pinned = np.full(size, -1, dtype=np.int64)
    for key, idx in node_of.items():
        faces = node_faces[idx]
        sums[idx] = every[faces].astype(np.float64).sum(axis=0)
        sizes[idx] = len(faces)
        if key[0] == "label":
            pinned[idx] = key[1]
    face_node = {f: idx for idx, faces in enumerate(node_faces) for f in faces}
    node_cannot = [
        (face_node[a], face_node[b])
        for a, b in cannot
        if a in face_node and b in face_node and face_node[a] != face_node[b]
    ]
    edges = np.asarray(edge_list, dtype=np.int64).reshape(-1, 2)
    agg = _Agglomeration(
        sums, sizes, pinned, edges, node_cannot, by_margin=params.order == "margin"
    )
    roots = agg.run(rule)
    out = np.concatenate([labels, np.full(k, -1, dtype=np.int64)])
    # groups of nodes -> labels
    groups: dict[int, list[int]] = {}
    for idx in range(size):
        groups.setdefault(int(roots[idx]), []).append(idx)
    fresh = int(labels.max(initial=-1)) + 1
    for root in sorted(groups, key=lambda r: min(min(node_faces[i]) for i in groups[r])):
        nodes = groups[root]
        faces = sorted(f for i in nodes for f in node_faces[i])
        fixed_label = max(int(pinned[i]) for i in nodes)
        if fixed_label < 0 and len(faces) < 2:
            continue
        group_vectors = every[faces].astype(np.float64)
        keep = np.ones(len(faces), dtype=bool)
        if params.detach_outliers and len(faces) >= 3:
            total_vec = group_vectors.sum(axis=0)
            sims = np.einsum("ij,ij->i", group_vectors, total_vec[None, :] - group_vectors) / (
                len(faces) - 1
            )
            movable = np.array([f >= m or labels[f] < 0 for f in faces])
            keep = ~((sims < rule.at(1, len(faces) - 1)) & movable)
        kept = [f for f, ok in zip(faces, keep, strict=True) if ok]
        if fixed_label >= 0:
            for f in kept:
                out[f] = fixed_label
        elif len(kept) >= 2:
            for f in kept:
                out[f] = fresh
            fresh += 1
    return out


__all__ = [
    "ClusterParams",
    "FmrFunction",
    "LinkRule",
    "cluster_vectors",
    "extend",
    "link_rule",
    "link_threshold",
]
