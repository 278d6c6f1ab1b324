"""MOT metrics against cases computed by hand (motmetrics 1.4.0, the reference implementation,
does not run on NumPy 2: ``np.asfarray`` is gone; so the cases are worked out here)."""

from __future__ import annotations

import pytest

from facewise.video.metrics import combine, drop_ignored, mot_scores


def box(x: float, y: float = 0.0) -> list[float]:
    return [x, y, x + 10.0, y + 10.0]


A = [box(0), box(1), box(2), box(3), box(4)]
B = [box(50), box(51), box(52)]


def test_a_swap_a_false_positive_and_a_miss() -> None:
    gt = [
        [("A", A[0]), ("B", B[0])],
        [("A", A[1]), ("B", B[1])],
        [("A", A[2]), ("B", B[2])],
        [("A", A[3])],
        [("A", A[4])],
    ]
    predicted = [
        [(1, A[0]), (2, B[0])],
        [(1, A[1]), (2, B[1])],
        [(1, B[2]), (2, A[2])],  # the two ids swap: 2 switches
        [(2, A[3]), (3, box(200))],  # 2 stays on A (no switch); 3 is a false positive
        [],  # A missed
    ]
    s = mot_scores(gt, predicted)
    assert (s.gt, s.predicted, s.matches) == (8, 8, 7)
    assert (s.fn, s.fp, s.id_switches) == (1, 1, 2)
    assert s.mota == pytest.approx(1 - 4 / 8)
    # trajectories: (A,1) 2 frames, (A,2) 2, (B,2) 2, (B,1) 1; best matching A-1 + B-2 = 4
    assert (s.idtp, s.idfp, s.idfn) == (4, 4, 4)
    assert s.idf1 == pytest.approx(2 * 4 / (2 * 4 + 4 + 4))
    assert (s.gt_tracks, s.predicted_tracks) == (2, 3)


def test_an_existing_correspondence_is_kept_over_a_better_overlap() -> None:
    gt = [[("A", box(0))], [("A", box(0))]]
    predicted = [[(1, box(0))], [(1, box(2)), (2, box(0))]]  # IoU 8/12 vs 1.0
    s = mot_scores(gt, predicted)
    assert (s.matches, s.fp, s.id_switches) == (2, 1, 0)
    assert s.mota == pytest.approx(0.5)
    assert s.idtp == 2 and s.idf1 == pytest.approx(4 / 5)


def test_below_the_iou_threshold_is_a_miss_and_a_false_positive() -> None:
    s = mot_scores([[("A", box(0))]], [[(1, box(6))]])  # IoU 4/16
    assert (s.matches, s.fn, s.fp, s.idtp) == (0, 1, 1, 0)
    assert s.mota == pytest.approx(-1.0) and s.idf1 == 0.0


def test_predictions_on_ignored_objects_are_dropped_and_scores_combine() -> None:
    gt = [[("A", box(0))], [("A", box(0))]]
    ignored = [[("B", box(50))], []]
    predicted = [[(1, box(0)), (2, box(50)), (3, box(100))], [(1, box(0))]]
    kept = drop_ignored(gt, ignored, predicted)
    assert [[i for i, _ in f] for f in kept] == [[1, 3], [1]]
    one = mot_scores(gt, kept)
    assert (one.fp, one.matches) == (1, 2)
    both = combine([one, one])
    assert (both.gt, both.fp, both.idtp) == (4, 2, 4)
    assert both.mota == pytest.approx(one.mota) and both.idf1 == pytest.approx(one.idf1)
    with pytest.raises(ValueError):
        mot_scores(gt, predicted[:1])
