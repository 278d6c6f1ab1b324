"""facewise.cluster.suggest on real faces: LFW people with several photos each and strangers seen
once, embedded once for the module, clustered with the default space's calibration; errors are
planted in the clustering (a stranger put into a named cluster, a person split in two) and the
suggestions must point at them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from facewise.cluster.algorithm import cluster_vectors
from facewise.cluster.suggest import (
    MATED_ORL_YALE,
    MergeProposal,
    Question,
    ScoreModel,
    best_scores,
    fit_mated,
    suggest,
)
from facewise.errors import InvalidInput
from lfw_faces import Faces, embed_lfw

pytestmark = [pytest.mark.models, pytest.mark.data]

PEOPLE = 6
PHOTOS = 8
STRANGERS = 10


@pytest.fixture(scope="module")
def faces(lfw: Path, engine: Any) -> Faces:
    return embed_lfw(
        lfw,
        engine,
        [(lambda n: n >= 10, PEOPLE), (lambda n: n == 1, STRANGERS)],
        photos=PHOTOS,
    )


def _truth_labels(faces: Faces) -> npt.NDArray[np.int64]:
    """Each recurring person one cluster (label = their rank), strangers unclustered."""
    people = faces.people
    return np.array([people.index(w) if w in people else -1 for w in faces.who], dtype=np.int64)


def test_a_planted_stranger_is_the_most_doubtful_member(faces: Faces) -> None:
    labels = _truth_labels(faces)
    stranger = faces.strangers[0]
    labels[stranger] = 0  # put into person 0's cluster
    found = suggest(
        faces.vectors, labels, fmr=faces.fmr, named=range(len(faces.people)), limit=None
    )
    members = [q for q in found.questions if q.member]
    assert len(members) == int(np.sum(labels >= 0))
    worst = min(members, key=lambda q: q.confidence)
    assert worst.face == stranger and worst.cluster == 0
    assert worst.confidence < 0.5 < np.median([q.confidence for q in members])
    assert worst.gain == pytest.approx(1 - worst.confidence)
    assert found.queue[0] == worst  # the answer most likely to change a name comes first


def test_a_split_person_is_proposed_as_a_merge_with_high_confidence(faces: Faces) -> None:
    labels = _truth_labels(faces)
    person = faces.of(faces.people[1])
    labels[person[: len(person) // 2]] = 99  # an unnamed second cluster of person 1
    named = [c for c in range(len(faces.people))]
    found = suggest(faces.vectors, labels, fmr=faces.fmr, named=named, limit=None)
    merge = next(m for m in found.merges if m.b == 99)
    assert merge.a == 1 and merge.size == len(person) // 2
    assert merge.confidence > 0.9
    assert merge.gain == pytest.approx(merge.confidence * merge.size)
    assert merge in found.queue[:3]


def test_the_queue_is_sorted_by_gain_and_cut_at_the_limit(faces: Faces) -> None:
    labels = cluster_vectors(faces.vectors, fmr=faces.fmr)
    labels[faces.strangers[1]] = int(labels[faces.of(faces.people[2])[0]])
    named = sorted({int(c) for c in labels if c >= 0})[:-1]  # one cluster left unnamed
    everything = suggest(faces.vectors, labels, fmr=faces.fmr, named=named, limit=None)
    gains = [item.gain for item in everything.queue]
    assert gains == sorted(gains, reverse=True) and len(gains) > 10
    assert {type(item) for item in everything.queue} == {MergeProposal, Question}
    short = suggest(faces.vectors, labels, fmr=faces.fmr, named=named, limit=5)
    assert short.queue == everything.queue[:5]
    above = suggest(faces.vectors, labels, fmr=faces.fmr, named=named, limit=None, min_gain=0.5)
    assert all(item.gain >= 0.5 for item in above.queue)
    assert len(above.queue) < len(everything.queue)


def test_an_unclustered_face_of_a_named_person_is_asked_about_them(faces: Faces) -> None:
    labels = _truth_labels(faces)
    face = faces.of(faces.people[3])[0]
    labels[face] = -1
    found = suggest(
        faces.vectors, labels, fmr=faces.fmr, named=range(len(faces.people)), limit=None
    )
    alone = {q.face: q for q in found.questions if not q.member}
    assert alone[face].cluster == 3 and alone[face].confidence > 0.5
    assert alone[face].gain == pytest.approx(alone[face].confidence)
    for s in faces.strangers:  # strangers: asked about their nearest person, and doubtful
        assert alone[s].confidence < alone[face].confidence


def test_confirmed_and_cannot_linked_faces_are_never_proposed(faces: Faces) -> None:
    labels = _truth_labels(faces)
    person = faces.of(faces.people[3])
    labels[person[0]] = -1  # unclustered, and the user said it is not person 3
    labels[person[1:3]] = 77  # an unnamed group the user refused to merge into person 3
    named = range(len(faces.people))
    cannot = [(person[0], person[4]), (person[1], person[5])]
    found = suggest(
        faces.vectors,
        labels,
        fmr=faces.fmr,
        named=named,
        confirmed=person[3:],
        cannot_link=cannot,
        limit=None,
    )
    assert not any(q.face == person[0] and q.cluster == 3 for q in found.questions)
    assert not any(m.b == 77 and m.a == 3 for m in found.merges)
    assert not any(q.face in person[3:] for q in found.questions)
    without = suggest(faces.vectors, labels, fmr=faces.fmr, named=named, limit=None)
    assert any(q.face == person[0] and q.cluster == 3 for q in without.questions)
    assert any(m.b == 77 and m.a == 3 for m in without.merges)


def test_the_same_person_model_is_fitted_without_labels(faces: Faces) -> None:
    labels = cluster_vectors(faces.vectors, fmr=faces.fmr)
    best = best_scores(faces.vectors, labels)
    fitted = fit_mated(best, labels < 0, faces.fmr, int(labels.max()) + 1)
    assert fitted is not MATED_ORL_YALE and "no labels" in fitted.source
    assert fitted.prior > fitted.prior_alone  # members are far likelier to be right
    # too few faces: the ORL/Yale model unchanged
    assert fit_mated(best[:5], labels[:5] < 0, faces.fmr, 3) is MATED_ORL_YALE
    model = ScoreModel(faces.fmr, fitted, 10)
    p = model.confidence(np.linspace(0.85, 0.99, 15))
    assert np.all(np.diff(p) >= -1e-9) and p[0] < 0.5 < p[-1]


def test_bad_input_is_refused(faces: Faces) -> None:
    with pytest.raises(InvalidInput, match="labels"):
        suggest(faces.vectors, np.zeros(3, dtype=np.int64), fmr=faces.fmr)
    with pytest.raises(InvalidInput, match="cannot-link"):
        suggest(
            faces.vectors,
            _truth_labels(faces),
            fmr=faces.fmr,
            named=[0],
            cannot_link=[(0, len(faces.who) + 5)],
        )
    nothing = suggest(faces.vectors, _truth_labels(faces), fmr=faces.fmr, named=())
    assert nothing.queue == () and nothing.questions == ()
