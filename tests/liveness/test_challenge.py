"""The active challenge's state machine on synthetic sequences and on real NUAA landmark
sequences (whose subjects were never asked to blink or turn: the tests assert what happens)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewise.analyzers.pose import PoseAnalyzer
from facewise.engine import Engine, largest_detection
from facewise.errors import InvalidInput
from facewise.liveness.challenge import (
    LEFT_EYE,
    RIGHT_EYE,
    Challenge,
    Observation,
    Status,
    eye_aspect_ratio,
    observation,
)

FPS = 10.0


def face(ear: float, jitter: float = 0.0) -> np.ndarray:
    """68 made-up landmarks whose eyes have this aspect ratio (width 30 px)."""
    marks = np.zeros((68, 2))
    marks[:, 0] = np.arange(68) * 3.0 + jitter
    for eye, x0 in ((RIGHT_EYE, 100.0), (LEFT_EYE, 160.0)):
        half = ear * 30 / 2
        p = [(x0, 100), (x0 + 10, 100 - half), (x0 + 20, 100 - half), (x0 + 30, 100),
             (x0 + 20, 100 + half), (x0 + 10, 100 + half)]  # fmt: skip
        marks[list(eye)] = np.array(p) + jitter
    return marks


def seq(ears: list[float], yaws: list[float], start: float = 0.0) -> list[Observation]:
    return [
        Observation(start + i / FPS, face(e, jitter=0.3 * (i % 2)), y)
        for i, (e, y) in enumerate(zip(ears, yaws, strict=True))
    ]


OPEN = [0.30, 0.31, 0.29, 0.30, 0.30]
BLINK = [0.30, 0.12, 0.10, 0.28, 0.31]
STILL = [0.0] * 5
SWEEP = [0.0, 8.0, 16.0, 24.0, 10.0]


def test_ear_of_the_made_up_face() -> None:
    assert eye_aspect_ratio(face(0.3)) == pytest.approx(0.3)
    with pytest.raises(InvalidInput):
        eye_aspect_ratio(np.zeros((5, 2)))


@pytest.mark.parametrize("order", [("blink", "turn"), ("turn", "blink")])
def test_a_blink_and_a_turn_in_the_order_asked_pass(order: tuple[str, str]) -> None:
    parts = {"blink": (OPEN + BLINK, STILL + STILL), "turn": (OPEN, SWEEP)}
    ears = parts[order[0]][0] + parts[order[1]][0]
    yaws = parts[order[0]][1] + parts[order[1]][1]
    if order[0] == "turn":  # the head comes back before the blink
        yaws = yaws[:5] + [0.0] * (len(yaws) - 5)
    challenge = Challenge(steps=order)  # type: ignore[arg-type]
    states = [challenge.observe(o) for o in seq(ears, yaws)]
    assert states[-1] == Status("passed", None, order, None)  # type: ignore[arg-type]
    assert states[0].step == order[0]


def test_a_turn_when_the_blink_is_asked_fails() -> None:
    status = Challenge(steps=("blink", "turn")).run(seq(OPEN + OPEN + BLINK, STILL + SWEEP + STILL))
    assert status.state == "failed" and status.reason == "wrong_order" and status.done == ()


def test_the_wrong_order_never_passes() -> None:
    ears, yaws = OPEN + BLINK + OPEN + OPEN, STILL + STILL + SWEEP + [24.0] * 5
    status = Challenge(steps=("turn", "blink")).run(seq(ears, yaws))
    assert status.state != "passed"  # the blink came first: the turn step is done, no blink after
    assert status.done == ("turn",)


def test_timeout() -> None:
    obs = seq(OPEN * 30, [0.0] * 150)  # 15 s of open eyes, no turn
    status = Challenge(steps=("blink", "turn")).run(obs)
    assert status.state == "failed" and status.reason == "timeout"
    late = Challenge(steps=("blink", "turn"))
    late.run(seq(OPEN + BLINK, STILL + STILL))
    assert late.status.step == "turn"
    assert late.observe(Observation(11.0, face(0.3), 30.0)).reason == "timeout"


def test_frozen_landmarks_fail_and_a_lost_face_fails() -> None:
    frozen = [Observation(i / FPS, face(0.3), 0.0) for i in range(10)]
    assert Challenge(steps=("blink", "turn")).run(frozen).reason == "frozen"
    lost = seq(OPEN, STILL) + [Observation(0.5 + i / FPS, None, None) for i in range(30)]
    assert Challenge(steps=("turn", "blink")).run(lost).reason == "face_lost"


def test_the_order_is_random_and_seeded() -> None:
    orders = {Challenge(seed=s).steps for s in range(20)}
    assert orders == {("blink", "turn"), ("turn", "blink")}
    assert Challenge(seed=3).steps == Challenge(seed=3).steps
    with pytest.raises(InvalidInput):
        Challenge(steps=("blink", "blink"))


@pytest.fixture(scope="module")
def nuaa_observations(
    sequences: dict[tuple[str, str], list[Path]], pad_engine: Engine
) -> dict[tuple[str, str], list[Observation]]:
    """20 frames of every NUAA sequence as observations (t = frame_no / 20 fps)."""
    pose = PoseAnalyzer()
    out = {}
    for key, paths in sequences.items():
        obs = []
        for path in paths[:20]:
            image = pad_engine.load_image(str(path))
            found = pad_engine.detector.detect(image)
            t = int(path.stem.rsplit("_", 1)[1]) / 20.0
            obs.append(observation(t, image, largest_detection(found) if found else None, pose))
        out[key] = obs
    return out


@pytest.mark.models
@pytest.mark.data
def test_real_sequences(nuaa_observations: dict[tuple[str, str], list[Observation]]) -> None:
    attacks = {k: v for k, v in nuaa_observations.items() if k[0] == "spoof"}
    lives = {k: v for k, v in nuaa_observations.items() if k[0] == "live"}
    assert len(attacks) == 7 and len(lives) == 5
    for obs in attacks.values():
        assert all(o.has_face for o in obs)
        for order in (("blink", "turn"), ("turn", "blink")):
            status = Challenge(steps=order).run(obs)
            assert status.state == "failed"  # no attack passes
            assert "blink" not in status.done  # a printed photo never blinks
    # The live subjects were not asked to do anything; two of them blink within 20 frames
    # (0007, 0010), and none of them passes both steps unasked.
    blinked = {k[1] for k, obs in lives.items() if Challenge(steps=("blink", "turn")).run(obs).done}
    assert blinked == {"0007", "0010"}
    assert all(Challenge(steps=("blink", "turn")).run(o).state != "passed" for o in lives.values())


@pytest.mark.models
@pytest.mark.data
def test_a_frozen_replay_of_a_live_frame_fails(
    nuaa_observations: dict[tuple[str, str], list[Observation]],
) -> None:
    first = nuaa_observations[("live", "0007")][0]
    replay = [Observation(i / 10, first.landmarks, first.yaw) for i in range(10)]
    assert Challenge(steps=("blink", "turn")).run(replay).reason == "frozen"
    assert Challenge(steps=("turn", "blink")).run(replay).reason == "frozen"
