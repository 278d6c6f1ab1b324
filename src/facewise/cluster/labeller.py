"""A simulated user who knows everyone in a collection names its faces: how many clicks each
workflow needs before (nearly) every face carries its right name.

**One action** is one click or answer: naming a cluster (typing the name of a person already
named merges the cluster into that person: also one action), a yes/no answer, accepting or
rejecting a merge, naming or moving one face.

**Correct faces** (``scenario``):

* ``"all"``: a face is correct when it carries its person's name. Everyone is named, strangers
  seen once included.
* ``"recurring"``: the user names the people seen at least twice; a face of a person seen once
  (a stranger) is correct when it carries *no* name, a face of a recurring person when it
  carries theirs. This is the photo-collection case: strangers stay unnamed, but a stranger
  given somebody's name is an error.

The target is a share of *all* faces (``target``, default 99%). **Named people**: the identities
the user gave a name to. The user knows who every face is (the truth) and finds a wrong face
without clicking (it is in front of them): finding is free in every workflow alike, only clicks
count.

Workflows:

* :func:`facewise_workflow`: :func:`~facewise.cluster.algorithm.cluster_vectors`; name the
  clusters largest first (by their majority person; in ``"recurring"`` only clusters whose
  majority person recurs); then the :func:`~facewise.cluster.suggest.suggest` queue in batches:
  each answer is kept (a "yes" pins the face or cluster to the person, a "no" cannot-links the
  face to that person's pinned faces), and after each batch the clustering runs again with those
  decisions, so unpinned faces join named clusters by themselves (the confident are labelled
  without a click); the queue is answered while its items gain at least ``min_gain`` faces;
  then the faces still wrong are fixed one by one.
* :func:`immich_workflow`: Immich's face grouping (:func:`immich_clusters`), then name each
  person largest first, merge duplicates by naming them alike, fix each wrong face one at a time.
* :func:`naive_workflow`: name the faces one by one.

Every workflow stops as soon as the target is reached.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from facewise.cluster.algorithm import ClusterParams, FmrFunction, cluster_vectors
from facewise.cluster.suggest import MatedModel, MergeProposal, Question, suggest
from facewise.errors import InvalidInput

Scenario = Literal["all", "recurring"]
SCENARIOS: tuple[Scenario, ...] = ("all", "recurring")
TARGET = 0.99
IMMICH_MIN_FACES = 3
"""Immich's default ``minFaces``."""


@dataclass(frozen=True, slots=True)
class LabellingRun:
    """One workflow on one collection: the clicks, by kind, until the target."""

    workflow: str
    scenario: str
    faces: int
    target: float
    reached: bool
    actions: int
    named_people: int
    correct: float
    """Share of faces correct at the end."""
    kinds: dict[str, int]
    """Actions by kind: name (a cluster or a new person), merge, yes, no, fix (one face)."""
    rounds: int = 0
    """Clustering runs (facewise)."""
    rejections: int = 0
    """(face, person) pairs the user said no to."""
    returned: int = 0
    """Times a re-run put a rejected face back into that person's cluster (should be 0; such a
    face is shown without the name regardless)."""
    curve: npt.NDArray[np.int64] = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))
    """Correct faces after 0, 1, 2, ... actions."""

    @property
    def per_person(self) -> float:
        return self.actions / self.named_people if self.named_people else math.nan

    def as_dict(self, points: int = 60) -> dict[str, Any]:
        """Plain figures; the curve sampled at about ``points`` actions (and the last one)."""
        n = len(self.curve)
        at = sorted({*np.linspace(0, n - 1, min(points, n)).round().astype(int).tolist()})
        return {
            "workflow": self.workflow,
            "scenario": self.scenario,
            "faces": self.faces,
            "target": self.target,
            "reached": self.reached,
            "actions": self.actions,
            "named_people": self.named_people,
            "actions_per_named_person": self.per_person,
            "correct": self.correct,
            "kinds": dict(self.kinds),
            "rounds": self.rounds,
            "rejections": self.rejections,
            "returned": self.returned,
            "curve": {
                "actions": at,
                "correct": [float(self.curve[i]) / self.faces for i in at] if self.faces else [],
            },
        }


class _State:
    """What the user sees and has decided: the name shown on each face, pins, rejections."""

    def __init__(self, truth: Sequence[Hashable], scenario: Scenario, target: float) -> None:
        if scenario not in SCENARIOS:
            raise InvalidInput(f"scenario must be one of {', '.join(SCENARIOS)}")
        if not 0 < target <= 1:
            raise InvalidInput("target must be in (0, 1]")
        self.scenario = scenario
        ids = np.unique(np.asarray([str(t) for t in truth]), return_inverse=True)[1]
        self.truth = ids.astype(np.int64)
        n = len(self.truth)
        counts = np.bincount(self.truth, minlength=int(self.truth.max(initial=-1)) + 1)
        self.recurring = counts[self.truth] >= 2
        self.want = (
            self.truth.copy() if scenario == "all" else np.where(self.recurring, self.truth, -1)
        )
        self.shown = np.full(n, -1, dtype=np.int64)
        self.pins: dict[int, int] = {}
        self.cannot: set[tuple[int, int]] = set()
        self.rejected: set[tuple[int, int]] = set()
        self.confirmed: set[int] = set()
        self.named: set[int] = set()
        self.kinds: Counter[str] = Counter()
        self.returned = 0
        self.needed = math.ceil(target * n - 1e-9)
        self.correct = int(np.sum(self.shown == self.want))
        self.curve = [self.correct]

    @property
    def done(self) -> bool:
        return self.correct >= self.needed

    def show(self, faces: npt.NDArray[np.int64] | list[int], person: int) -> None:
        f = np.asarray(faces, dtype=np.int64)
        if len(f) == 0:
            return
        if person >= 0:  # a rejected name never comes back
            f = np.array([x for x in f.tolist() if (x, person) not in self.rejected], np.int64)
            if len(f) == 0:
                return
        before = int(np.sum(self.shown[f] == self.want[f]))
        self.shown[f] = person
        self.correct += int(np.sum(self.shown[f] == self.want[f])) - before

    def act(self, kind: str) -> None:
        self.kinds[kind] += 1
        self.curve.append(self.correct)

    def cannot_links(self) -> list[tuple[int, int]]:
        """The cannot-links still in force: a later pin of both faces to one person (the user's
        newer decision) overrides one."""
        return sorted(
            (a, b)
            for a, b in self.cannot
            if not (a in self.pins and self.pins.get(b) == self.pins[a])
        )

    def pinned_to(self, person: int) -> list[int]:
        return [f for f, p in self.pins.items() if p == person]

    def pin(self, faces: list[int], person: int) -> None:
        for f in faces:
            if (f, person) not in self.rejected:
                self.pins[f] = person
        self.named.add(person)
        self.show(faces, person)

    def reject(self, face: int, person: int) -> None:
        self.rejected.add((face, person))
        if self.pins.get(face) == person:
            del self.pins[face]
        for other in self.pinned_to(person):
            self.cannot.add((min(face, other), max(face, other)))
        if self.shown[face] == person:
            self.show([face], -1)

    def apply_labels(self, labels: npt.NDArray[np.int64]) -> None:
        """Show each face the name of its cluster (a cluster is named when its label is a
        person with a pinned face), nothing otherwise; pinned faces keep their names."""
        live = {p for p in self.pins.values()}
        shown = np.where(np.isin(labels, np.fromiter(live, np.int64, len(live))), labels, -1)
        for f, p in self.pins.items():
            shown[f] = p
        for f, p in self.rejected:
            if labels[f] == p and p in live:
                self.returned += 1
            if shown[f] == p:
                shown[f] = -1
        self.shown = shown.astype(np.int64)
        self.correct = int(np.sum(self.shown == self.want))

    def majority(self, faces: npt.NDArray[np.int64]) -> int:
        """The person the user sees in a group: the most frequent (ties: the first face's)."""
        counts = Counter(self.truth[faces].tolist())
        top = max(counts.values())
        for f in faces.tolist():
            if counts[int(self.truth[f])] == top:
                return int(self.truth[f])
        raise AssertionError("unreachable")

    def worth_naming(self, person: int) -> bool:
        return bool(np.any(self.want == person))

    def fix_one_by_one(self) -> None:
        """Fix the faces still wrong, one click each, until the target."""
        for f in np.flatnonzero(self.shown != self.want).tolist():
            if self.done:
                return
            person = int(self.want[f])
            if person >= 0:
                self.pins[f] = person
                self.named.add(person)
            self.show([f], person)
            self.act("fix")

    def run(self, workflow: str, rounds: int = 0) -> LabellingRun:
        n = len(self.truth)
        return LabellingRun(
            workflow=workflow,
            scenario=self.scenario,
            faces=n,
            target=self.needed / n if n else 1.0,
            reached=self.done,
            actions=len(self.curve) - 1,
            named_people=len(self.named),
            correct=self.correct / n if n else 1.0,
            kinds=dict(self.kinds),
            rounds=rounds,
            rejections=len(self.rejected),
            returned=self.returned,
            curve=np.asarray(self.curve, dtype=np.int64),
        )


def _clusters_by_size(labels: npt.NDArray[np.int64]) -> list[npt.NDArray[np.int64]]:
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = sorted(range(len(ids)), key=lambda i: (-int(counts[i]), int(ids[i])))
    return [np.flatnonzero(labels == ids[i]) for i in order if counts[i] >= 2]


def _medoid(vectors: npt.NDArray[np.float32], faces: npt.NDArray[np.int64]) -> int:
    """The face of ``faces`` nearest their mean: the one a named cluster is pinned by."""
    total = vectors[faces].astype(np.float64).sum(axis=0)
    return int(faces[int(np.argmax(vectors[faces].astype(np.float64) @ total))])


def _name_clusters(
    state: _State,
    labels: npt.NDArray[np.int64],
    *,
    anchor: npt.NDArray[np.float32] | None = None,
) -> None:
    """Name each unnamed cluster of two or more faces, largest first, by its majority person
    (the name of a person already named merges it into them). With ``anchor`` (the vectors),
    only the cluster's medoid is pinned to the name (a re-run regroups the rest around it);
    without, every face of the cluster is."""
    live = set(state.pins.values())
    for faces in _clusters_by_size(labels):
        if state.done:
            return
        if int(labels[faces[0]]) in live:
            continue
        person = state.majority(faces)
        if not state.worth_naming(person):
            continue
        kind = "merge" if person in state.named else "name"
        if anchor is None:
            state.pin(faces.tolist(), person)
        else:
            state.pin([_medoid(anchor, faces)], person)
            state.show(faces, person)
        state.act(kind)


def _fix_batch(state: _State, labels: npt.NDArray[np.int64], batch: int) -> int:
    """Fix up to ``batch`` wrong faces, one click each, at most one per (cluster, person) so that
    the re-run can carry the rest of that person's faces after it; largest clusters first.
    Returns the clicks."""
    wrong = np.flatnonzero(state.shown != state.want)
    if len(wrong) == 0:
        return 0
    sizes = Counter(labels.tolist())
    order = sorted(
        wrong.tolist(),
        key=lambda f: (-(sizes[int(labels[f])] if labels[f] >= 0 else 1), int(labels[f]), f),
    )
    seen: set[tuple[int, int, int]] = set()
    clicks = 0
    for f in order:
        if state.done or clicks >= batch:
            break
        key = (
            int(labels[f]) if labels[f] >= 0 else -1 - f,
            int(state.want[f]),
            int(state.shown[f]),
        )
        if key in seen:
            continue
        seen.add(key)
        person = int(state.want[f])
        shown = int(state.shown[f])
        if shown >= 0:
            state.reject(f, shown)
        if person >= 0:
            state.pin([f], person)
        state.act("fix")
        clicks += 1
    return clicks


def facewise_workflow(
    vectors: npt.NDArray[np.float32],
    truth: Sequence[Hashable],
    *,
    fmr: FmrFunction,
    scenario: Scenario = "all",
    target: float = TARGET,
    params: ClusterParams | None = None,
    batch: int = 200,
    min_gain: float = 0.5,
    max_rounds: int = 40,
    mated: MatedModel | None = None,
    pin: Literal["cluster", "medoid"] = "cluster",
) -> LabellingRun:
    """Cluster; name the clusters largest first; then rounds of: the suggestion queue (at most
    ``batch`` answers with a gain of at least ``min_gain``), else up to ``batch`` one-face fixes
    (one per cluster and person), each round followed by a re-run of the clustering that keeps
    every decision (pins, cannot-links) and names what joins a named cluster. After
    ``max_rounds`` runs the faces still wrong are fixed one by one. Naming pins every face of the
    cluster to the name (``pin="cluster"``: a wrong face stays until the user takes it out) or
    only its medoid (``pin="medoid"``: a re-run regroups the rest around it). The defaults
    (``pin``, ``batch``) were chosen on LFW dev half A (benchmarks/cluster_labelling.py)."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    params = params or ClusterParams()
    state = _State(truth, scenario, target)
    if len(state.truth) != len(v):
        raise InvalidInput(f"{len(state.truth)} identities for {len(v)} vectors")
    rounds = 0
    while not state.done and rounds < max_rounds:
        labels = cluster_vectors(
            v, fmr=fmr, fixed=state.pins, cannot_link=state.cannot_links(), params=params
        )
        rounds += 1
        state.apply_labels(labels)
        before = len(state.curve)
        _name_clusters(state, labels, anchor=v if pin == "medoid" else None)
        if state.done:
            break
        if len(state.curve) > before:
            continue  # names first: re-run before asking anything
        found = suggest(
            v,
            labels,
            fmr=fmr,
            named=set(state.pins.values()),
            confirmed=state.confirmed,
            cannot_link=state.cannot_links(),
            mated=mated,
            limit=batch,
            min_gain=min_gain,
        )
        for item in found.queue:
            if state.done:
                break
            _answer(state, labels, item, v)
        if not found.queue and _fix_batch(state, labels, batch) == 0:
            break
    state.fix_one_by_one()
    return state.run("facewise", rounds)


def _answer(
    state: _State,
    labels: npt.NDArray[np.int64],
    item: MergeProposal | Question,
    vectors: npt.NDArray[np.float32],
) -> None:
    """The user's truthful answer to one suggestion (one action)."""
    if isinstance(item, MergeProposal):
        faces = np.flatnonzero(labels == item.b)
        if state.majority(faces) == item.a:
            state.pin([_medoid(vectors, faces)], item.a)
            state.show(faces, item.a)
            state.act("yes")
        else:
            for f in faces.tolist():
                for other in state.pinned_to(item.a)[:3]:
                    state.cannot.add((min(f, other), max(f, other)))
            state.act("no")
        return
    face, person = item.face, item.cluster
    if int(state.truth[face]) == person:
        state.confirmed.add(face)
        state.pin([face], person)
        state.act("yes")
    else:
        state.reject(face, person)
        state.act("no")


def immich_clusters(
    vectors: npt.NDArray[np.float32],
    *,
    max_distance: float,
    min_faces: int = IMMICH_MIN_FACES,
    search: int = 200,
) -> npt.NDArray[np.int64]:
    """Immich's face grouping (server ``PersonService.handleRecognizeFaces``), on cosine
    distance ``1 - s``. Faces are taken in order; for each: ``matches`` = its ``min_faces``
    nearest faces (itself included) within ``max_distance``. Only itself: skipped. Fewer than
    ``min_faces`` (not *core*): deferred to a second pass. Otherwise it joins the person of the
    first match that has one, else of its nearest face with a person within ``max_distance``;
    a core face with neither founds a new person. A deferred face joins the nearest face with a
    person within ``max_distance``, or stays unassigned (``-1``). (``search``: how many nearest
    faces a person search looks through.)"""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(v)
    person = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return person
    k = min(max(search, min_faces), n)
    near = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, 2048):
        d = 1.0 - v[start : start + 2048] @ v.T
        rows = np.arange(len(d))
        d[rows, start + rows] = -1.0  # itself first
        idx = (
            np.argpartition(d, k - 1, axis=1)[:, :k]
            if k < n
            else np.tile(np.arange(n), (len(d), 1))
        )
        part = np.take_along_axis(d, idx, axis=1)
        order = np.argsort(part, axis=1, kind="stable")
        near[start : start + len(d)] = np.take_along_axis(idx, order, axis=1)
        dist[start : start + len(d)] = np.take_along_axis(part, order, axis=1)
    within = dist <= max_distance
    fresh = 0

    def nearest_with_person(i: int) -> int:
        for j, ok in zip(near[i].tolist(), within[i].tolist(), strict=True):
            if not ok:
                break
            if person[j] >= 0:
                return int(person[j])
        return -1

    deferred = []
    for i in range(n):
        matches = [
            j for j, ok in zip(near[i, :min_faces], within[i, :min_faces], strict=True) if ok
        ]
        if min_faces > 1 and len(matches) <= 1:
            continue
        if len(matches) < min_faces:
            deferred.append(i)
            continue
        pid = next((int(person[j]) for j in matches if person[j] >= 0), -1)
        if pid < 0:
            pid = nearest_with_person(i)
        if pid < 0:
            pid = fresh
            fresh += 1
        person[i] = pid
    for i in deferred:
        pid = nearest_with_person(i)
        if pid >= 0:
            person[i] = pid
    return person


def immich_workflow(
    vectors: npt.NDArray[np.float32],
    truth: Sequence[Hashable],
    *,
    max_distance: float,
    min_faces: int = IMMICH_MIN_FACES,
    scenario: Scenario = "all",
    target: float = TARGET,
) -> LabellingRun:
    """Immich's grouping, then: name each person largest first (a duplicate is merged by giving
    it the same name: one action), then fix each wrong face one at a time."""
    state = _State(truth, scenario, target)
    labels = immich_clusters(vectors, max_distance=max_distance, min_faces=min_faces)
    if len(labels) != len(state.truth):
        raise InvalidInput(f"{len(state.truth)} identities for {len(labels)} vectors")
    # an Immich person of one face is a person too: it is named like the others
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = sorted(range(len(ids)), key=lambda i: (-int(counts[i]), int(ids[i])))
    for i in order:
        if state.done:
            break
        faces = np.flatnonzero(labels == ids[i])
        person = state.majority(faces)
        if not state.worth_naming(person) or (len(faces) == 1 and state.want[faces[0]] < 0):
            continue
        kind = "merge" if person in state.named else "name"
        state.pin(faces.tolist(), person)
        state.act(kind)
    state.fix_one_by_one()
    return state.run("immich")


def naive_workflow(
    truth: Sequence[Hashable], *, scenario: Scenario = "all", target: float = TARGET
) -> LabellingRun:
    """Name the faces one by one, in collection order."""
    state = _State(truth, scenario, target)
    state.fix_one_by_one()
    return state.run("naive")


def tune_immich(
    sets: Sequence[tuple[npt.NDArray[np.float32], Sequence[Hashable]]],
    *,
    grid: Sequence[float] = tuple(np.round(np.arange(0.02, 0.161, 0.005), 3).tolist()),
    min_faces: int = IMMICH_MIN_FACES,
    scenario: Scenario = "all",
) -> float:
    """The ``max_distance`` with the fewest actions over ``sets`` (summed), for tuning Immich's
    grouping on other collections than the one reported."""
    best, best_actions = grid[0], math.inf
    for d in grid:
        total = sum(
            immich_workflow(v, t, max_distance=d, min_faces=min_faces, scenario=scenario).actions
            for v, t in sets
        )
        if total < best_actions:
            best, best_actions = d, total
    return float(best)


__all__ = [
    "IMMICH_MIN_FACES",
    "SCENARIOS",
    "TARGET",
    "LabellingRun",
    "Scenario",
    "facewise_workflow",
    "immich_clusters",
    "immich_workflow",
    "naive_workflow",
    "tune_immich",
]
