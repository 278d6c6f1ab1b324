"""A face tracker: IoU association with a constant-velocity motion model, re-linking by appearance.

On a frame with detections (every K-th frame), :meth:`Tracker.update` predicts every live track's
box to this frame (its last box moved by its velocity per frame), matches predictions to
detections by IoU (Hungarian assignment, ``iou_min``), then tries the detections left over
against tracks that have been missed: by appearance (cosine of the detection's embedding to the
track's mean embedding at ``relink_threshold``, the space's calibrated 1:1 threshold) when an
``appearance`` callback is given, else by position and size near the prediction. Whatever is
still unmatched starts a new track. Between detections, :meth:`Tracker.predict` moves every live
track along its velocity. A missed track's box is *held* (predicted) for ``hold`` frames, then
the track is *lost* (not drawn, still re-linkable) until ``max_gap`` frames, then it ends.

Boxes are numpy ``[x1, y1, x2, y2]`` float64; the motion model works on centre and size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from facewise.types import BBox, Detection

Box = npt.NDArray[np.float64]
Appearance = Callable[[list[int]], npt.NDArray[np.float32] | None]
"""Given indices of detections, their L2-normalised embeddings (N, D), or None."""


def to_box(b: BBox) -> Box:
    return np.array([b.x1, b.y1, b.x2, b.y2], dtype=np.float64)


def to_bbox(box: Box) -> BBox:
    return BBox(*(float(v) for v in box))


def _cs(box: Box) -> Box:
    """[cx, cy, w, h]."""
    return np.array(
        [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0], box[3] - box[1]]
    )


def _xyxy(cs: Box) -> Box:
    cx, cy, w, h = cs
    w, h = max(w, 1.0), max(h, 1.0)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> npt.NDArray[np.float64]:
    if not a or not b:
        return np.zeros((len(a), len(b)))
    A, B = np.stack(a)[:, None, :], np.stack(b)[None, :, :]
    ix = np.clip(np.minimum(A[..., 2], B[..., 2]) - np.maximum(A[..., 0], B[..., 0]), 0, None)
    iy = np.clip(np.minimum(A[..., 3], B[..., 3]) - np.maximum(A[..., 1], B[..., 1]), 0, None)
    inter = ix * iy
    area_a = (A[..., 2] - A[..., 0]) * (A[..., 3] - A[..., 1])
    area_b = (B[..., 2] - B[..., 0]) * (B[..., 3] - B[..., 1])
    union = area_a + area_b - inter
    out: npt.NDArray[np.float64] = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
    return out


@dataclass(slots=True, eq=False)
class Track:
    id: int
    state: Box
    """[cx, cy, w, h] at ``last_frame``."""
    last_frame: int
    first_frame: int
    velocity: Box = field(default_factory=lambda: np.zeros(4))
    """Change of [cx, cy, w, h] per frame."""
    hits: int = 1
    observations: list[tuple[int, Box, float]] = field(default_factory=list)
    """(frame, box, detector score) of every detection matched to the track."""
    appearance: npt.NDArray[np.float32] | None = None
    appearance_n: int = 0

    def predict(self, frame: int) -> Box:
        dt = frame - self.last_frame
        return _xyxy(self.state + self.velocity * dt)

    def correct(self, frame: int, box: Box, score: float, gain: float) -> None:
        dt = max(frame - self.last_frame, 1)
        measured = _cs(box)
        predicted = self.state + self.velocity * dt
        if dt <= 8:  # a fresh velocity from a short gap only; after a long one it decays
            step = (measured - self.state) / dt
            self.velocity = step if self.hits == 1 else 0.5 * self.velocity + 0.5 * step
        else:
            self.velocity = self.velocity * 0.5
        self.state = gain * measured + (1 - gain) * predicted
        self.last_frame = frame
        self.hits += 1
        self.observations.append((frame, box.copy(), score))

    def add_appearance(self, vector: npt.NDArray[np.float32]) -> None:
        if self.appearance is None:
            self.appearance = vector.astype(np.float32).copy()
        else:
            mixed = self.appearance * self.appearance_n + vector
            self.appearance = (mixed / max(float(np.linalg.norm(mixed)), 1e-9)).astype(np.float32)
        self.appearance_n += 1


@dataclass(frozen=True, slots=True, eq=False)
class TrackBox:
    """A track's box on one frame: ``observed`` when a detection was matched on this frame,
    else predicted (between detections, or held through a miss)."""

    track: int
    box: Box
    observed: bool
    detection: Detection | None = None


class Tracker:
    def __init__(
        self,
        *,
        iou_min: float = 0.25,
        hold: int = 12,
        max_gap: int = 90,
        relink_threshold: float | None = None,
        gain: float = 0.85,
    ) -> None:
        self.iou_min = iou_min
        self.hold = hold
        self.max_gap = max_gap
        self.relink_threshold = relink_threshold
        self.gain = gain
        self.tracks: list[Track] = []
        """Live tracks (seen within ``max_gap`` frames)."""
        self.ended: list[Track] = []
        self._next = 1

    @property
    def all_tracks(self) -> list[Track]:
        return sorted(self.ended + self.tracks, key=lambda t: t.id)

    def _expire(self, frame: int) -> None:
        keep: list[Track] = []
        for track in self.tracks:
            (keep if frame - track.last_frame <= self.max_gap else self.ended).append(track)
        self.tracks = keep

    def predict(self, frame: int) -> list[TrackBox]:
        """Boxes of the tracks held on a frame without detections."""
        self._expire(frame)
        return [
            TrackBox(t.id, t.predict(frame), False)
            for t in self.tracks
            if frame - t.last_frame <= self.hold
        ]

    def update(
        self,
        frame: int,
        detections: Sequence[Detection],
        appearance: Appearance | None = None,
    ) -> tuple[list[TrackBox], dict[int, int]]:
        """Match ``detections`` of ``frame``; returns the boxes to draw (matched, new and held
        tracks) and ``{detection index: track id}``."""
        self._expire(frame)
        boxes = [to_box(d.bbox) for d in detections]
        # a track missed on up to ``hold`` frames in a row is still matched by IoU
        near = [t for t in self.tracks if frame - t.last_frame <= self.hold + 1]
        predicted = [t.predict(frame) for t in near]
        assigned: dict[int, Track] = {}
        ious = iou_matrix(predicted, boxes)
        if ious.size:
            rows, cols = linear_sum_assignment(-ious)
            for r, c in zip(rows, cols, strict=True):
                if ious[r, c] >= self.iou_min:
                    assigned[int(c)] = near[int(r)]
        left = [i for i in range(len(boxes)) if i not in assigned]
        taken = {id(t) for t in assigned.values()}
        missed = [t for t in self.tracks if id(t) not in taken and t.last_frame < frame]
        vectors: dict[int, npt.NDArray[np.float32]] = {}
        if left and appearance is not None:
            got = appearance(left)
            if got is not None:
                vectors = {i: got[k] for k, i in enumerate(left)}
        if left and missed:
            self._relink(frame, left, boxes, vectors, missed, assigned)
        for i in range(len(boxes)):
            if i not in assigned:
                track = Track(self._next, _cs(boxes[i]), frame, frame)
                track.observations.append((frame, boxes[i].copy(), detections[i].score))
                self._next += 1
                self.tracks.append(track)
                assigned[i] = track
            else:
                assigned[i].correct(frame, boxes[i], detections[i].score, self.gain)
            if i in vectors:
                assigned[i].add_appearance(vectors[i])
        drawn = [TrackBox(t.id, boxes[i], True, detections[i]) for i, t in sorted(assigned.items())]
        seen = {t.id for t in assigned.values()}
        drawn += [
            TrackBox(t.id, t.predict(frame), False)
            for t in self.tracks
            if t.id not in seen and frame - t.last_frame <= self.hold
        ]
        return drawn, {i: t.id for i, t in assigned.items()}

    def _relink(
        self,
        frame: int,
        left: list[int],
        boxes: list[Box],
        vectors: dict[int, npt.NDArray[np.float32]],
        missed: list[Track],
        assigned: dict[int, Track],
    ) -> None:
        """Second stage: leftover detections against missed tracks, best pairs first."""
        pairs: list[tuple[float, int, Track]] = []
        for i in left:
            for track in missed:
                score = self._affinity(frame, boxes[i], vectors.get(i), track)
                if score is not None:
                    pairs.append((score, i, track))
        used: set[int] = set()
        for _, i, track in sorted(pairs, key=lambda p: -p[0]):
            if i in assigned or id(track) in used:
                continue
            assigned[i] = track
            used.add(id(track))

    def _affinity(
        self,
        frame: int,
        box: Box,
        vector: npt.NDArray[np.float32] | None,
        track: Track,
    ) -> float | None:
        if (
            vector is not None
            and track.appearance is not None
            and self.relink_threshold is not None
        ):
            cos = float(vector @ track.appearance)
            return cos if cos >= self.relink_threshold else None
        if frame - track.last_frame > self.hold + 1:
            return None  # beyond the hold, only appearance can re-link
        guess = _cs(track.predict(frame))
        got = _cs(box)
        ratio = float(got[2]) / max(float(guess[2]), 1.0)
        distance = float(np.hypot(*(got[:2] - guess[:2]))) / max(
            float(guess[2]), float(got[2]), 1.0
        )
        if 0.6 <= ratio <= 1.6 and distance <= 1.0:
            return float(1.0 - distance)
        return None


__all__ = ["Box", "Track", "TrackBox", "Tracker", "iou_matrix", "to_bbox", "to_box"]
