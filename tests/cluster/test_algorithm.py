"""facewise.cluster.algorithm on real faces: LFW photos of several people with several photos each
and of people seen once, embedded once for the module with the default engine and clustered with
the thresholds of the default space's calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facewise.cluster.algorithm import ClusterParams, cluster_vectors, extend, link_threshold
from facewise.cluster.knn import knn, knn_against
from facewise.cluster.metrics import score
from facewise.errors import InvalidInput
from lfw_faces import Faces, embed_lfw

pytestmark = [pytest.mark.models, pytest.mark.data]

PEOPLE = 7
PHOTOS = 6
STRANGERS = 9


@pytest.fixture(scope="module")
def faces(lfw: Path, engine: Any) -> Faces:
    return embed_lfw(
        lfw,
        engine,
        [(lambda n: n >= 12, PEOPLE), (lambda n: n == 1, STRANGERS)],
        photos=PHOTOS,
    )


def test_people_are_grouped_and_strangers_left_alone(faces: Faces) -> None:
    labels = cluster_vectors(faces.vectors, fmr=faces.fmr)
    result = score(labels, faces.who)
    assert result.bcubed_f >= 0.9, result
    assert result.bcubed_precision >= 0.95, result
    assert (labels[faces.strangers] == -1).all()
    assert result.clusters >= PEOPLE - 1


def test_threshold_follows_the_calibration_and_the_collection_size(faces: Faces) -> None:
    small = link_threshold(faces.fmr, 100, ClusterParams())
    large = link_threshold(faces.fmr, 100_000, ClusterParams())
    assert 0.85 < small < large < 1.0
    budget = float(faces.fmr(np.asarray([small]))[0])
    assert budget == pytest.approx(ClusterParams().false_links / 100, rel=0.05)


def test_identical_input_identical_labels_and_order_does_not_matter(faces: Faces) -> None:
    first = cluster_vectors(faces.vectors, fmr=faces.fmr)
    assert np.array_equal(first, cluster_vectors(faces.vectors.copy(), fmr=faces.fmr))
    order = np.random.default_rng(3).permutation(len(faces.who))
    shuffled = cluster_vectors(faces.vectors[order], fmr=faces.fmr)
    back = np.empty_like(shuffled)
    back[order] = shuffled
    # the same partition (labels may be numbered differently)
    pairs = {(int(a), int(b)) for a, b in zip(first, back, strict=True) if a >= 0}
    assert len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs})
    assert np.array_equal(first < 0, back < 0)


def test_pinned_faces_keep_their_labels(faces: Faces) -> None:
    a, b = faces.people[:2]
    fa, fb = faces.of(a), faces.of(b)
    # two of a's photos pinned to 7, one of b's to 3, a stranger to 9 (the user named them)
    fixed = {fa[0]: 7, fa[1]: 7, fb[0]: 3, faces.strangers[0]: 9}
    labels = cluster_vectors(faces.vectors, fmr=faces.fmr, fixed=fixed)
    for face, label in fixed.items():
        assert labels[face] == label
    assert (labels[fa] == 7).all()  # unpinned photos of a join the pinned cluster
    assert (labels[fb] == 3).all()
    new = set(labels.tolist()) - {-1, 3, 7, 9}
    assert new and min(new) > 9
    # pinned to different labels: never together, even when they are the same person
    apart = cluster_vectors(faces.vectors, fmr=faces.fmr, fixed={fa[0]: 1, fa[1]: 2})
    assert apart[fa[0]] == 1 and apart[fa[1]] == 2


def test_cannot_link_is_honoured(faces: Faces) -> None:
    face_a, face_b = faces.of(faces.people[0])[:2]
    labels = cluster_vectors(faces.vectors, fmr=faces.fmr)
    assert labels[face_a] == labels[face_b] >= 0
    kept = cluster_vectors(faces.vectors, fmr=faces.fmr, cannot_link=[(face_a, face_b)])
    assert kept[face_a] == -1 or kept[face_a] != kept[face_b]
    with pytest.raises(InvalidInput):
        cluster_vectors(faces.vectors, fmr=faces.fmr, fixed={face_a: 1, face_b: 1},
                        cannot_link=[(face_a, face_b)])  # fmt: skip


def test_extend_keeps_old_labels_and_places_new_photos(faces: Faces) -> None:
    held = [faces.of(p)[-1] for p in faces.people] + faces.strangers[-2:]
    old = [i for i in range(len(faces.who)) if i not in held]
    old_labels = cluster_vectors(faces.vectors[old], fmr=faces.fmr)
    labels = extend(faces.vectors[old], old_labels, faces.vectors[held], fmr=faces.fmr)
    assert len(labels) == len(faces.who)
    clustered = old_labels >= 0
    assert np.array_equal(labels[: len(old)][clustered], old_labels[clustered])
    position = {face: len(old) + j for j, face in enumerate(held)}
    for person in faces.people:
        mates = [old.index(i) for i in faces.of(person) if i in old]
        label = np.bincount(old_labels[mates][old_labels[mates] >= 0]).argmax()
        assert labels[position[faces.of(person)[-1]]] == label, person
    for stranger in faces.strangers[-2:]:
        assert labels[position[stranger]] == -1
    # the same call twice: the same labels
    again = extend(faces.vectors[old], old_labels, faces.vectors[held], fmr=faces.fmr)
    assert np.array_equal(labels, again)


def test_extend_makes_fresh_clusters_and_respects_cannot_link(faces: Faces) -> None:
    person = faces.people[0]
    rest = [i for i in range(len(faces.who)) if faces.who[i] != person]
    old_labels = cluster_vectors(faces.vectors[rest], fmr=faces.fmr)
    new = faces.of(person)
    labels = extend(faces.vectors[rest], old_labels, faces.vectors[new], fmr=faces.fmr)
    fresh = labels[len(rest) :]
    assert (fresh == fresh[0]).all() and fresh[0] > old_labels.max()
    first, second = len(rest), len(rest) + 1
    split = extend(
        faces.vectors[rest],
        old_labels,
        faces.vectors[new],
        fmr=faces.fmr,
        cannot_link=[(first, second)],
    )
    assert split[first] == -1 or split[first] != split[second]


def test_two_halves_score_like_one_pass(faces: Faces) -> None:
    order = np.random.default_rng(0).permutation(len(faces.who))
    first, second = order[: len(order) // 2], order[len(order) // 2 :]
    one = score(cluster_vectors(faces.vectors, fmr=faces.fmr), faces.who)
    start = cluster_vectors(faces.vectors[first], fmr=faces.fmr)
    both = extend(faces.vectors[first], start, faces.vectors[second], fmr=faces.fmr)
    truth = [faces.who[i] for i in np.concatenate([first, second])]
    assert score(both, truth).bcubed_f >= one.bcubed_f - 0.02


def test_invalid_input_is_refused(faces: Faces) -> None:
    with pytest.raises(InvalidInput):
        cluster_vectors(faces.vectors, fmr=faces.fmr, fixed={len(faces.who): 0})
    with pytest.raises(InvalidInput):
        cluster_vectors(faces.vectors, fmr=faces.fmr, cannot_link=[(0, len(faces.who))])
    bad = faces.vectors.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidInput):
        cluster_vectors(bad, fmr=faces.fmr)
    with pytest.raises(InvalidInput):
        extend(faces.vectors, np.zeros(2, dtype=np.int64), faces.vectors, fmr=faces.fmr)
    assert cluster_vectors(faces.vectors[:0], fmr=faces.fmr).shape == (0,)
    assert cluster_vectors(faces.vectors[:1], fmr=faces.fmr).tolist() == [-1]


def test_numpy_and_faiss_neighbours_agree(faces: Faces) -> None:
    pytest.importorskip("faiss")
    v = faces.vectors
    idx_np, sim_np = knn(v, 5, exact_limit=10**9)
    idx_fa, sim_fa = knn(v, 5, exact_limit=0)
    assert np.allclose(sim_np, sim_fa, atol=1e-5)
    assert (idx_np == idx_fa).mean() > 0.98  # ties may order differently
    assert not (idx_np == np.arange(len(v))[:, None]).any()
    q_np, _ = knn_against(v[:5], v, 3, exact_limit=10**9)
    q_fa, _ = knn_against(v[:5], v, 3, exact_limit=0)
    assert (q_np[:, 0] == np.arange(5)).all() and (q_fa[:, 0] == np.arange(5)).all()
