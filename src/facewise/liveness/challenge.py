"""The active liveness challenge: two steps (a blink, a head turn) in a random order, within a
timeout, as a pure state machine fed one observation per frame.

Each :class:`Observation` is a frame's time (seconds) and what was seen of the face: dlib's 68
landmarks (the pose analyzer's ``landmarks68``) and the head's yaw in degrees (the pose
analyzer's ``pose.yaw``), or nothing when no face was found. :meth:`Challenge.observe` returns
the state after it: ``pending`` (with the step now asked for), ``passed``, or ``failed`` with a
reason. Once passed or failed, the state no longer changes.

* **Blink**: the eye aspect ratio (EAR, Soukupová and Čech 2016: the mean over both eyes of
  (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)) drops below ``closed_ratio`` x the open-eye level (the
  median EAR of the step's frames so far, at least ``min_frames`` of them) and comes back above
  ``open_ratio`` x that level.
* **Turn**: the yaw moves at least ``turn_degrees`` away from the yaw of the challenge's first
  face frames (their median), either way.
* **Wrong order**: a head turn while the blink is asked for fails the challenge
  (``wrong_order``). A blink while the turn is asked for is ignored: people blink without being
  asked, so it neither passes nor fails anything.
* **Timeout**: ``timeout_s`` after the first observation without passing: ``timeout``.
* **Frozen input**: ``frozen_frames`` consecutive face observations whose landmarks do not move
  (max difference below ``frozen_px``): a still image or a replayed frame, ``frozen``.
* **Face lost**: no face for longer than ``max_gap_s``: ``face_lost``.

:func:`observation` builds an observation from an image and a detection with the pose analyzer.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput
from facewise.types import Detection, Image

Step = Literal["blink", "turn"]
State = Literal["pending", "passed", "failed"]
STEPS: tuple[Step, Step] = ("blink", "turn")
RIGHT_EYE = (36, 37, 38, 39, 40, 41)
LEFT_EYE = (42, 43, 44, 45, 46, 47)


MESSAGES = {  # what each outcome means, for a person
    "passed": "Challenge passed.",
    "timeout": "The challenge was not completed in time.",
    "wrong_order": "The head turned before the blink that was asked for.",
    "frozen": "The face did not move at all: a still picture or a replayed frame.",
    "face_lost": "The face left the picture for too long.",
    "video_ended": "The video ended before every step was done.",
}
FALLBACK = (
    "If blinking or turning the head is difficult for you, ask for another way to confirm you "
    "are present (for example a check by a person); the passive check alone can be used instead."
)


def eye_aspect_ratio(landmarks: npt.ArrayLike) -> float:
    """The mean EAR of both eyes from dlib's 68 landmarks ((68, 2), pixels)."""
    marks = np.asarray(landmarks, dtype=np.float64)
    if marks.shape != (68, 2):
        raise InvalidInput(f"the eye aspect ratio needs (68, 2) landmarks, got {marks.shape}")

    def one(idx: tuple[int, ...]) -> float:
        p = marks[list(idx)]
        width = float(np.linalg.norm(p[0] - p[3]))
        height = float(np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4]))
        return height / (2.0 * width) if width > 0 else 0.0

    return (one(RIGHT_EYE) + one(LEFT_EYE)) / 2.0


@dataclass(frozen=True, slots=True)
class Observation:
    t: float
    """Seconds (any origin; increasing)."""
    landmarks: npt.NDArray[np.float64] | None = None
    """dlib's 68 points, (68, 2); None when no face was found in the frame."""
    yaw: float | None = None
    """Degrees, the pose analyzer's convention; None when not known."""

    @property
    def has_face(self) -> bool:
        return self.landmarks is not None


@dataclass(frozen=True, slots=True)
class ChallengeOptions:
    timeout_s: float = 10.0
    closed_ratio: float = 0.75
    open_ratio: float = 0.9
    min_frames: int = 3
    turn_degrees: float = 15.0
    frozen_frames: int = 5
    frozen_px: float = 0.05
    max_gap_s: float = 2.0


@dataclass(frozen=True, slots=True)
class Status:
    state: State
    step: Step | None
    """The step asked for now (None once passed or failed)."""
    done: tuple[Step, ...]
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "step": self.step,
            "done": list(self.done),
            "reason": self.reason,
        }


@dataclass
class Challenge:
    """One run of the two-step challenge; ``steps`` in the order asked (random by default)."""

    steps: tuple[Step, ...] = ()
    options: ChallengeOptions = field(default_factory=ChallengeOptions)
    seed: int | None = None
    _status: Status = field(init=False)
    _start: float | None = field(default=None, init=False)
    _last_face_t: float | None = field(default=None, init=False)
    _yaw0: list[float] = field(default_factory=list, init=False)
    _ears: list[float] = field(default_factory=list, init=False)
    _closed: bool = field(default=False, init=False)
    _still: int = field(default=0, init=False)
    _prev: npt.NDArray[np.float64] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not self.steps:
            order = list(STEPS)
            random.Random(self.seed).shuffle(order)
            self.steps = tuple(order)
        if sorted(self.steps) != sorted(STEPS):
            raise InvalidInput(f"a challenge asks for each of {', '.join(STEPS)} once")
        self._status = Status("pending", self.steps[0], ())

    @property
    def status(self) -> Status:
        return self._status

    def _fail(self, reason: str) -> Status:
        self._status = Status("failed", None, self._status.done, reason)
        return self._status

    def _step_done(self) -> Status:
        done = (*self._status.done, self.steps[len(self._status.done)])
        self._ears, self._closed = [], False
        if len(done) == len(self.steps):
            self._status = Status("passed", None, done)
        else:
            self._status = Status("pending", self.steps[len(done)], done)
        return self._status

    def observe(self, obs: Observation) -> Status:
        """Feed one frame's observation; the state after it."""
        if self._status.state != "pending":
            return self._status
        o = self.options
        if self._start is None:
            self._start = obs.t
        if obs.t - self._start > o.timeout_s:
            return self._fail("timeout")
        if obs.landmarks is None:
            since = self._start if self._last_face_t is None else self._last_face_t
            if obs.t - since > o.max_gap_s:
                return self._fail("face_lost")
            return self._status
        self._last_face_t = obs.t
        marks = np.asarray(obs.landmarks, dtype=np.float64)
        if self._prev is not None and float(np.max(np.abs(marks - self._prev))) < o.frozen_px:
            self._still += 1
            if self._still + 1 >= o.frozen_frames:
                return self._fail("frozen")
        else:
            self._still = 0
        self._prev = marks
        turned = False
        if obs.yaw is not None:
            if len(self._yaw0) < o.min_frames:
                self._yaw0.append(obs.yaw)
            else:
                turned = abs(obs.yaw - float(np.median(self._yaw0))) >= o.turn_degrees
        step = self._status.step
        if step == "turn":
            return self._step_done() if turned else self._status
        if turned:
            return self._fail("wrong_order")
        return self._blink(eye_aspect_ratio(marks))

    def _blink(self, ear: float) -> Status:
        o = self.options
        if len(self._ears) >= o.min_frames:
            level = float(np.median(self._ears))
            if not self._closed and ear < o.closed_ratio * level:
                self._closed = True
                return self._status
            if self._closed:
                if ear > o.open_ratio * level:
                    return self._step_done()
                return self._status
        self._ears.append(ear)
        return self._status

    def run(self, observations: Sequence[Observation]) -> Status:
        """Feed every observation in turn (stops changing once passed or failed)."""
        for obs in observations:
            self.observe(obs)
        return self._status


def observation(t: float, image: Image, detection: Detection | None, pose: Any) -> Observation:
    """An observation of one frame with ``pose`` (a :class:`facewise.analyzers.pose.PoseAnalyzer`):
    the 68 landmarks and the yaw of ``detection``, or an empty one when there is no face."""
    if detection is None:
        return Observation(t)
    from facewise.analyzers.pose import solve_pose

    marks = np.asarray(pose.landmarks(image, detection), dtype=np.float64)
    h, w = image.shape[:2]
    try:
        yaw = solve_pose(marks, h, w)[0]
    except InvalidInput:
        yaw = None
    return Observation(t, marks, yaw)
