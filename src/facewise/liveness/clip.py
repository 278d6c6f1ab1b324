"""The liveness of one face over a sequence of frames (a clip or a track).

* **Fused score**: the passive model's per-frame live probabilities are fused as the mean of
  their logits (a product of likelihood ratios, averaged so the clip's length does not move the
  threshold), turned back into a probability and compared with the model's own threshold.
* **Frozen or replayed input**: the largest face of consecutive frames is compared as a grey
  64 x 64 crop of the same box (the union of the two boxes); the mean absolute difference in grey
  levels (0-255) is the frame's motion. A camera looking at a person never returns the same
  pixels twice (sensor noise alone moves a crop by ~1 grey level), so a pair below
  ``duplicate_below`` is a near-duplicate; a clip whose share of near-duplicate pairs exceeds
  ``max_duplicate_share``, or whose median motion is below ``min_motion``, is frozen: not live,
  whatever its texture says.
* A clip with fewer than ``min_faces`` frames with a face is not live (``reason`` says why).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput
from facewise.liveness.model import PadModel, bundled, logit, sigmoid
from facewise.types import BBox, Detection, Image

Detect = Callable[[Image], list[Detection]]


@dataclass(frozen=True, slots=True)
class ClipOptions:
    duplicate_below: float = 0.5
    max_duplicate_share: float = 0.5
    min_motion: float = 0.5
    min_faces: int = 3


@dataclass(frozen=True, slots=True)
class ClipLiveness:
    live: bool
    score: float
    """The fused live probability (sigmoid of the mean per-frame logit)."""
    threshold: float
    frames: int
    faces: int
    duplicate_share: float
    motion: float
    """Median grey-level difference of consecutive face crops."""
    frozen: bool
    reason: str | None
    """Why the clip is not live: "frozen", "too_few_faces" or "attack"; None when live."""
    frame_scores: list[float | None] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "live": self.live,
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
            "reason": self.reason,
            "frames": self.frames,
            "faces": self.faces,
            "frozen": self.frozen,
            "duplicate_share": round(self.duplicate_share, 4),
            "motion": round(self.motion, 3),
            "frame_scores": [None if s is None else round(s, 4) for s in self.frame_scores],
        }


def _grey(image: Image, box: BBox) -> npt.NDArray[np.float32]:
    import cv2

    h, w = image.shape[:2]
    x1, y1 = max(0, int(box.x1)), max(0, int(box.y1))
    x2, y2 = min(w, math.ceil(box.x2)), min(h, math.ceil(box.y2))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return np.zeros((64, 64), np.float32)
    patch = np.ascontiguousarray(image[y1:y2, x1:x2]).astype(np.float32).mean(axis=2)
    return np.asarray(cv2.resize(patch, (64, 64), interpolation=cv2.INTER_AREA), np.float32)


def motion(a: Image, b: Image, box_a: BBox, box_b: BBox) -> float:
    """Mean absolute grey-level difference of the two frames' crops of the union box."""
    union = BBox(
        min(box_a.x1, box_b.x1), min(box_a.y1, box_b.y1), max(box_a.x2, box_b.x2),
        max(box_a.y2, box_b.y2),
    )  # fmt: skip
    return float(np.mean(np.abs(_grey(a, union) - _grey(b, union))))


def check_clip(
    frames: Sequence[Image],
    detect: Detect,
    model: PadModel | None = None,
    options: ClipOptions | None = None,
) -> ClipLiveness:
    """The liveness of the largest face over ``frames`` ((H, W, 3) uint8 RGB, in time order)."""
    if not frames:
        raise InvalidInput("a clip needs at least one frame")
    pad = model or bundled()
    opts = options or ClipOptions()
    boxes: list[Detection | None] = []
    scores: list[float | None] = []
    for frame in frames:
        found = detect(frame)
        if not found:
            boxes.append(None)
            scores.append(None)
            continue
        face = max(found, key=lambda d: d.bbox.area)
        boxes.append(face)
        scores.append(pad.scores(frame, [face])[0])
    moves = [
        motion(frames[i - 1], frames[i], prev.bbox, cur.bbox)
        for i, (prev, cur) in enumerate(itertools.pairwise(boxes), start=1)
        if prev is not None and cur is not None
    ]
    faces = sum(s is not None for s in scores)
    fused = sigmoid(float(np.mean([logit(s) for s in scores if s is not None]))) if faces else 0.0
    share = float(np.mean([m < opts.duplicate_below for m in moves])) if moves else 0.0
    median_motion = float(np.median(moves)) if moves else 0.0
    frozen = bool(moves) and (share > opts.max_duplicate_share or median_motion < opts.min_motion)
    reason: str | None = None
    if faces < opts.min_faces:
        reason = "too_few_faces"
    elif frozen:
        reason = "frozen"
    elif fused < pad.threshold:
        reason = "attack"
    return ClipLiveness(
        live=reason is None,
        score=fused,
        threshold=pad.threshold,
        frames=len(frames),
        faces=faces,
        duplicate_share=share,
        motion=median_motion,
        frozen=frozen,
        reason=reason,
        frame_scores=scores,
    )


def iter_video(path: str, *, max_frames: int = 300, step: int = 1) -> Iterator[Image]:
    """Frames of a video file as RGB arrays (OpenCV's VideoCapture), one at a time, every
    ``step``-th, at most ``max_frames``; :class:`InvalidInput` when it cannot be opened or
    holds no frame."""
    import cv2

    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise InvalidInput(f"cannot open video {path}")
        index = kept = 0
        while kept < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if index % step == 0:
                kept += 1
                yield np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        capture.release()
    if kept == 0:
        raise InvalidInput(f"no frame could be read from video {path}")


def read_video(path: str, *, max_frames: int = 300, step: int = 1) -> list[Image]:
    """:func:`iter_video` as a list."""
    return list(iter_video(path, max_frames=max_frames, step=step))


def video_fps(path: str) -> float:
    import cv2

    capture = cv2.VideoCapture(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()
    return fps if fps > 0 else 25.0
