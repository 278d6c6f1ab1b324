"""What to ask the user next: merge proposals and yes/no questions, ordered by expected gain.

Pure functions over arrays (no SQL, no I/O). Inputs: the L2-normalised ``vectors`` (N, D), the
current cluster ``labels`` (N,) (``-1`` unclustered), which labels are ``named``, which faces the
user ``confirmed`` (never asked again) and the ``cannot_link`` pairs (the user's rejections).

**Scores.** A face is compared with a cluster's *template*: the L2-normalised mean of the
cluster's faces, leaving the face itself out when it is a member. A cluster B is compared with a
named cluster A by the median of the scores of B's faces against A's template.

**Confidence** is the posterior probability that a face belongs to the cluster it is compared
with, from two score models (:class:`ScoreModel`):

* strangers: the calibrated false-match rate ``fmr`` of one comparison (for the default space
  the LFW-dev table ``calibration.nonmated_model(space).table("mean", 1)``). The cluster a
  face is compared with was picked as its best among the collection's C clusters, so any of C
  strangers could have produced the score: density ``g(s) = C f_n(s)``, ``f_n = -dFMR/ds``
  (the union bound of the best of C, which stays monotone where the exact maximum's density
  vanishes);
* the same person: ``1 - s`` log-normal (:class:`MatedModel`). By default it is estimated on the
  collection itself, without any label, by EM on the mixture ``pi f_m + (1 - pi) g`` of every
  face's best score against the templates (the stranger side held at the calibration; the
  starting point and the fallback for tiny collections is :data:`MATED_ORL_YALE`, fitted on the
  AT&T/ORL and Yale faces with the default pipeline, never on LFW). Pass ``mated=`` to use a
  fixed model instead.

``P(same | s) = pi f_m(s) / (pi f_m(s) + (1 - pi) g(s))``.

**Gain** (the queue's order): the expected number of faces whose name changes for the better
when the user answers, ``P(the answer changes something) x faces affected``:

* :class:`Question` about a member of a named cluster: a "no" takes a wrong name off one face:
  ``gain = 1 - confidence``;
* :class:`Question` about an unclustered face and its nearest named cluster: a "yes" names it:
  ``gain = confidence``;
* :class:`MergeProposal` of an unnamed cluster B into a named cluster A: a "yes" names B's faces:
  ``gain = confidence x |B|``. (Two unnamed clusters gain no names by merging; naming them is the
  next step, so they are not proposed. An unclustered face is asked about as a Question.)

Nothing cannot-linked is proposed: a face with a cannot-link to any face of a cluster is never
asked about that cluster, and two groups with a cannot-link between them are never proposed as a
merge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput

FmrFunction = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]
_EPS = 1e-6
_STEP = 2e-3  # the finite difference of -dFMR/ds


@dataclass(frozen=True, slots=True)
class MatedModel:
    """Same-person scores (a face against its person's template): ``log(1 - s)`` is normal with
    mean ``mu`` and deviation ``sigma``. ``prior``: the share of cluster members whose best
    template is their own person's; ``prior_alone``: the same for unclustered faces (most are
    strangers seen once)."""

    mu: float
    sigma: float
    prior: float = 0.5
    prior_alone: float = 0.1
    source: str = ""

    def density(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        d = np.clip(1.0 - np.asarray(scores, dtype=np.float64), _EPS, None)
        z = (np.log(d) - self.mu) / self.sigma
        out: npt.NDArray[np.float64] = np.exp(-0.5 * z * z) / (
            self.sigma * d * math.sqrt(2 * math.pi)
        )
        return out


MATED_ORL_YALE = MatedModel(
    mu=-4.414,
    sigma=0.531,
    source="AT&T/ORL (400 faces) + Yale (155 faces), dlib-resnet / hog+mtcnn / flip, each face "
    "against the mean of its person's other faces",
)
"""The default same-person model: fitted on ORL and Yale (controlled photos; their scores run
higher than in unconstrained collections, so on its own it doubts members more than it should)."""


@dataclass(frozen=True, slots=True)
class ScoreModel:
    """Strangers (``fmr``, best of ``candidates`` clusters) against the same person (``mated``)."""

    fmr: FmrFunction
    mated: MatedModel
    candidates: int

    def stranger_density(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Density of "one of the ``candidates`` strangers scores ``s``": ``C f_n(s)``."""
        s = np.asarray(scores, dtype=np.float64)
        lo = np.asarray(self.fmr(s - _STEP), dtype=np.float64)
        hi = np.asarray(self.fmr(s + _STEP), dtype=np.float64)
        density = np.clip((lo - hi) / (2 * _STEP), 1e-300, None)
        out: npt.NDArray[np.float64] = max(1, self.candidates) * density
        return out

    def confidence(
        self, scores: npt.NDArray[np.float64], *, alone: bool = False
    ) -> npt.NDArray[np.float64]:
        """``P(same person | score)`` for each score (of cluster members, or with ``alone`` of
        unclustered faces)."""
        s = np.asarray(scores, dtype=np.float64)
        pi = self.mated.prior_alone if alone else self.mated.prior
        pi = min(max(pi, 1e-6), 1 - 1e-6)
        m = pi * self.mated.density(s)
        n = (1 - pi) * self.stranger_density(s)
        out: npt.NDArray[np.float64] = np.where(m + n > 0, m / np.maximum(m + n, 1e-300), 0.0)
        return out


def fit_mated(
    best: npt.NDArray[np.float64],
    alone: npt.NDArray[np.bool_],
    fmr: FmrFunction,
    candidates: int,
    *,
    start: MatedModel = MATED_ORL_YALE,
    iterations: int = 50,
    min_faces: int = 30,
) -> MatedModel:
    """The same-person model of one collection, without labels: EM over ``best`` (each face's
    best score against the cluster templates; ``alone``: it is unclustered) as the mixture
    ``pi f_m + (1 - pi) g``, with the stranger side ``g`` held at the calibration and ``pi`` of its
    own for members and for unclustered faces. Fewer than ``min_faces`` scores, or a fit that
    puts fewer than ``min_faces`` faces on the same-person side: ``start`` unchanged."""
    s = np.asarray(best, dtype=np.float64)
    keep = np.isfinite(s)
    s, lone = s[keep], np.asarray(alone, dtype=bool)[keep]
    if len(s) < min_faces:
        return start
    log_d = np.log(np.clip(1.0 - s, _EPS, None))
    stranger = ScoreModel(fmr, start, candidates).stranger_density(s)
    mu, sigma = start.mu, start.sigma
    priors = np.where(lone, start.prior_alone, start.prior)
    for _ in range(iterations):
        m = priors * MatedModel(mu, sigma).density(s)
        r = m / np.maximum(m + (1 - priors) * stranger, 1e-300)
        weight = float(r.sum())
        if weight < min_faces:
            return start
        new_mu = float((r * log_d).sum() / weight)
        new_sigma = max(float(np.sqrt((r * (log_d - new_mu) ** 2).sum() / weight)), 0.05)
        p_in = float(r[~lone].mean()) if (~lone).any() else start.prior
        p_out = float(r[lone].mean()) if lone.any() else start.prior_alone
        priors = np.where(lone, min(max(p_out, 1e-3), 0.999), min(max(p_in, 1e-3), 0.999))
        done = abs(new_mu - mu) < 1e-4 and abs(new_sigma - sigma) < 1e-4
        mu, sigma = new_mu, new_sigma
        if done:
            break
    return MatedModel(
        mu,
        sigma,
        float(priors[~lone][0]) if (~lone).any() else start.prior,
        float(priors[lone][0]) if lone.any() else start.prior_alone,
        source=f"EM on this collection's {len(s)} faces (no labels)",
    )


@dataclass(frozen=True, slots=True)
class MergeProposal:
    """Is unnamed cluster ``b`` the person of named cluster ``a``?"""

    a: int
    b: int
    score: float
    """Median score of ``b``'s faces against ``a``'s template."""
    confidence: float
    gain: float
    size: int
    """Faces of ``b`` (named if the answer is yes)."""


@dataclass(frozen=True, slots=True)
class Question:
    """Is ``face`` the person of (named) cluster ``cluster``?"""

    face: int
    cluster: int
    score: float
    confidence: float
    gain: float
    member: bool
    """True: the face is in that cluster (a "no" takes it out); False: it is unclustered (a
    "yes" puts it in)."""


Suggestion = MergeProposal | Question


@dataclass(frozen=True, slots=True)
class Suggestions:
    merges: tuple[MergeProposal, ...]
    questions: tuple[Question, ...]
    model: MatedModel
    candidates: int
    """Clusters of two or more faces (the C of the stranger model)."""
    queue: tuple[Suggestion, ...] = field(default=())
    """Merges and questions together, highest gain first (ties: lower confidence first, then
    the face or cluster id)."""


def _sort_key(item: Suggestion) -> tuple[float, float, int, int]:
    if isinstance(item, MergeProposal):
        return (-item.gain, -item.size, item.a, item.b)
    return (-item.gain, 0.0, item.cluster, item.face)


def templates(
    vectors: npt.NDArray[np.float32], labels: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """(cluster ids, their sums (C, D), their sizes) for the labels >= 0."""
    ids, inverse = np.unique(labels[labels >= 0], return_inverse=True)
    sums = np.zeros((len(ids), vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, vectors[labels >= 0].astype(np.float64))
    sizes = np.bincount(inverse, minlength=len(ids)).astype(np.int64)
    return ids.astype(np.int64), sums, sizes


def _unit(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    out: npt.NDArray[np.float64] = rows / np.maximum(norms, 1e-12)
    return out


def best_scores(
    vectors: npt.NDArray[np.float32], labels: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Each face's best score against the templates of the clusters (its own left out of its
    own cluster's); NaN for a face alone in its cluster with no other cluster to compare."""
    v = vectors.astype(np.float64)
    ids, sums, sizes = templates(vectors, labels)
    if len(ids) == 0:
        return np.full(len(v), np.nan)
    sims = v @ _unit(sums).T  # (N, C)
    pos = np.searchsorted(ids, labels)
    member = labels >= 0
    rows = np.flatnonzero(member)
    own = sums[pos[rows]] - v[rows]
    own_size = sizes[pos[rows]] - 1
    loo = np.where(own_size > 0, np.einsum("ij,ij->i", v[rows], _unit(own)), -np.inf)
    sims[rows, pos[rows]] = loo
    best: npt.NDArray[np.float64] = np.asarray(sims.max(axis=1), dtype=np.float64)
    best[~np.isfinite(best)] = np.nan
    return best


def _check(
    vectors: npt.NDArray[np.float32], labels: npt.ArrayLike
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    if v.ndim != 2:
        raise InvalidInput(f"vectors must be a 2-D array, got shape {v.shape}")
    if len(lab) != len(v):
        raise InvalidInput(f"{len(lab)} labels for {len(v)} vectors")
    if v.size and not np.isfinite(v).all():
        raise InvalidInput("vectors contain NaN or infinite values")
    return v, lab


def suggest(
    vectors: npt.NDArray[np.float32],
    labels: npt.ArrayLike,
    *,
    fmr: FmrFunction,
    named: Collection[int] = (),
    confirmed: Collection[int] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
    mated: MatedModel | None = None,
    limit: int | None = 50,
    min_gain: float = 0.0,
) -> Suggestions:
    """Merge proposals and yes/no questions for the collection ``vectors`` clustered as
    ``labels``; ``queue`` holds the first ``limit`` of both by gain (all with ``None``), only
    those with a gain of at least ``min_gain``. ``mated=None`` fits the same-person model on
    this collection (:func:`fit_mated`)."""
    v, lab = _check(vectors, labels)
    n = len(v)
    named_set = {int(c) for c in named}
    confirmed_set = {int(f) for f in confirmed}
    apart: dict[int, set[int]] = {}
    for a, b in cannot_link:
        a, b = int(a), int(b)
        if not (0 <= a < n and 0 <= b < n):
            raise InvalidInput(f"cannot-link pair ({a}, {b}) outside 0..{n - 1}")
        apart.setdefault(a, set()).add(b)
        apart.setdefault(b, set()).add(a)
    ids, sums, sizes = templates(v, lab)
    big = sizes >= 2
    candidates = int(big.sum())
    if mated is None:
        mated = fit_mated(best_scores(v, lab), lab < 0, fmr, max(candidates, 1))
    model = ScoreModel(fmr, mated, max(candidates, 1))
    empty = Suggestions((), (), mated, candidates)
    if n == 0 or len(ids) == 0:
        return empty
    pos = {int(c): i for i, c in enumerate(ids.tolist())}
    named_idx = np.array([pos[c] for c in sorted(named_set) if c in pos], dtype=np.int64)
    if len(named_idx) == 0:
        return empty
    v64 = v.astype(np.float64)
    named_templates = _unit(sums[named_idx])  # (K, D)

    def linked(faces: Iterable[int], cluster: int) -> bool:
        members = None
        for f in faces:
            other = apart.get(f)
            if not other:
                continue
            if members is None:
                members = set(np.flatnonzero(lab == cluster).tolist())
            if other & members:
                return True
        return False

    questions: list[Question] = []
    # members of named clusters (not confirmed): a "no" fixes a wrong name
    for k, ci in enumerate(named_idx.tolist()):
        cluster = int(ids[ci])
        faces = np.flatnonzero(lab == cluster)
        faces = np.array([f for f in faces.tolist() if f not in confirmed_set], dtype=np.int64)
        if len(faces) == 0 or sizes[ci] < 2:
            continue
        own = _unit(sums[ci][None, :] - v64[faces])
        s = np.einsum("ij,ij->i", v64[faces], own)
        p = model.confidence(s)
        for f, sc, pc in zip(faces.tolist(), s.tolist(), p.tolist(), strict=True):
            questions.append(Question(f, cluster, sc, pc, 1.0 - pc, True))
        del k
    # unclustered faces: their nearest named cluster (not cannot-linked to them)
    alone = np.flatnonzero(lab < 0)
    alone = np.array([f for f in alone.tolist() if f not in confirmed_set], dtype=np.int64)
    if len(alone):
        sims = v64[alone] @ named_templates.T  # (U, K)
        order = np.argsort(-sims, axis=1)
        for row, f in enumerate(alone.tolist()):
            for j in order[row, :5].tolist():
                cluster = int(ids[named_idx[j]])
                if f in apart and linked([f], cluster):
                    continue
                sc = float(sims[row, j])
                pc = float(model.confidence(np.array([sc]), alone=True)[0])
                questions.append(Question(f, cluster, sc, pc, pc, False))
                break
    # unnamed clusters of 2+: their nearest named cluster
    merges: list[MergeProposal] = []
    unnamed = [i for i in range(len(ids)) if big[i] and int(ids[i]) not in named_set]
    if unnamed:
        t = _unit(sums[unnamed]) @ named_templates.T  # (M, K)
        order = np.argsort(-t, axis=1)
        for row, ui in enumerate(unnamed):
            b = int(ids[ui])
            faces = np.flatnonzero(lab == b)
            for j in order[row, :3].tolist():
                a = int(ids[named_idx[j]])
                if linked(faces.tolist(), a):
                    continue
                sc = float(np.median(v64[faces] @ named_templates[j]))
                pc = float(model.confidence(np.array([sc]))[0])
                merges.append(MergeProposal(a, b, sc, pc, pc * len(faces), len(faces)))
                break
    merges.sort(key=_sort_key)
    questions.sort(key=_sort_key)
    everything: list[Suggestion] = [*merges, *questions]
    queue = [x for x in everything if x.gain >= min_gain]
    queue.sort(key=_sort_key)
    if limit is not None:
        queue = queue[: max(0, limit)]
    return Suggestions(tuple(merges), tuple(questions), mated, candidates, tuple(queue))


__all__ = [
    "MATED_ORL_YALE",
    "MatedModel",
    "MergeProposal",
    "Question",
    "ScoreModel",
    "Suggestion",
    "Suggestions",
    "best_scores",
    "fit_mated",
    "suggest",
    "templates",
]
