"""facewise.cluster.labeller on real faces: a small LFW collection (people with many photos, a
few with two, strangers seen once) named by the simulated user through each workflow."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from facewise.cluster.algorithm import ClusterParams, link_threshold
from facewise.cluster.labeller import (
    facewise_workflow,
    immich_clusters,
    immich_workflow,
    naive_workflow,
    tune_immich,
)
from facewise.errors import InvalidInput
from lfw_faces import Faces, embed_lfw

pytestmark = [pytest.mark.models, pytest.mark.data]


def distance(faces: Faces) -> float:
    """Immich's maxDistance at facewise's own link threshold (the same strictness)."""
    return 1.0 - link_threshold(faces.fmr, len(faces.who), ClusterParams())


@pytest.fixture(scope="module")
def faces(lfw: Path, engine: Any) -> Faces:
    return embed_lfw(
        lfw,
        engine,
        [(lambda n: n >= 12, 6), (lambda n: n == 2, 5), (lambda n: n == 1, 12)],
        photos=10,
    )


@pytest.mark.parametrize("scenario", ["all", "recurring"])
def test_suggestions_need_fewer_actions_than_naming_faces_one_by_one(
    faces: Faces, scenario: str
) -> None:
    fw = facewise_workflow(faces.vectors, faces.who, fmr=faces.fmr, scenario=scenario)  # type: ignore[arg-type]
    naive = naive_workflow(faces.who, scenario=scenario)  # type: ignore[arg-type]
    immich = immich_workflow(
        faces.vectors,
        faces.who,
        max_distance=distance(faces),
        scenario=scenario,  # type: ignore[arg-type]
    )
    for run in (fw, naive, immich):
        assert run.reached and run.correct >= 0.99, run
        assert run.actions == sum(run.kinds.values()) == len(run.curve) - 1
        assert run.curve[-1] >= math.ceil(0.99 * len(faces.who))
    assert fw.actions < naive.actions / 2
    assert fw.actions <= immich.actions
    assert fw.kinds.get("name", 0) >= 6  # the six people with many photos are clusters
    people = len(set(faces.who)) if scenario == "all" else 11
    assert fw.named_people <= people and naive.named_people <= people
    assert fw.per_person == pytest.approx(fw.actions / fw.named_people)


def test_naming_one_by_one_counts_exactly(faces: Faces) -> None:
    n = len(faces.who)
    assert naive_workflow(faces.who, scenario="all").actions == math.ceil(0.99 * n)
    strangers = len(faces.strangers)  # correct while unnamed
    assert (
        naive_workflow(faces.who, scenario="recurring").actions == math.ceil(0.99 * n) - strangers
    )
    assert naive_workflow(faces.who, target=0.5).actions == math.ceil(0.5 * n)
    with pytest.raises(InvalidInput):
        naive_workflow(faces.who, scenario="everyone")  # type: ignore[arg-type]


def test_a_rejected_face_is_never_put_back(faces: Faces) -> None:
    # a permissive calibration (threshold near 0.8): big mixed clusters, so the user says no to
    # many faces and every re-run would pull most of them back without the cannot-links
    def permissive(s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = np.clip(10.0 ** (-10 * (np.asarray(s) - 0.6)), 0.0, 1.0)
        return out

    run = facewise_workflow(faces.vectors, faces.who, fmr=permissive, scenario="recurring", batch=5)
    assert run.reached
    assert run.rejections > 20 and run.rounds > 5
    assert run.returned == 0


def test_immich_grouping_follows_its_rules(faces: Faces) -> None:
    labels = immich_clusters(faces.vectors, max_distance=distance(faces))
    assert len(labels) == len(faces.who)
    assert (labels[faces.strangers] == -1).mean() >= 0.9  # strangers mostly stay unassigned
    big = faces.of(sorted({w for w in faces.who if faces.who.count(w) >= 10})[0])
    assert np.bincount(labels[big][labels[big] >= 0]).max() >= 3  # a person with many photos
    # nothing within the distance: nobody is grouped; min_faces 1: every face is a person
    assert (immich_clusters(faces.vectors, max_distance=0.0) == -1).all()
    alone = immich_clusters(faces.vectors, max_distance=0.0, min_faces=1)
    assert len(set(alone.tolist())) == len(faces.who)
    # a pair of photos never makes a person with minFaces 3 unless a person is near
    pairs = [faces.of(w) for w in sorted(set(faces.who)) if faces.who.count(w) == 2]
    for pair in pairs:
        if (labels[pair] >= 0).any():
            near = labels[pair][labels[pair] >= 0]
            assert all((labels == p).sum() > 2 or p in labels[big] for p in near.tolist())


def test_tuning_picks_the_grid_point_with_fewest_actions(faces: Faces) -> None:
    grid = (0.0, distance(faces))
    best = tune_immich([(faces.vectors, faces.who)], grid=grid)
    by = {d: immich_workflow(faces.vectors, faces.who, max_distance=d).actions for d in grid}
    assert best == min(by, key=lambda d: (by[d], grid.index(d)))
    assert by[distance(faces)] < by[0.0]
