"""Clip-level liveness on real NUAA sequences, and replays made by repeating one frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewise.engine import Engine
from facewise.errors import InvalidInput
from facewise.liveness.clip import check_clip, read_video

from .conftest import frames, write_video

pytestmark = [pytest.mark.models, pytest.mark.data]


@pytest.mark.parametrize(
    ("label", "subject"), [("live", "0015"), ("spoof", "0015"), ("spoof", "0016")]
)
def test_held_out_sequences(
    label: str, subject: str, sequences: dict[tuple[str, str], list[Path]], pad_engine: Engine
) -> None:
    clip = check_clip(
        frames(pad_engine, sequences[(label, subject)], 8), pad_engine.detector.detect
    )
    assert clip.faces == clip.frames == 8
    assert not clip.frozen and clip.motion > 2.0  # real frames move
    assert clip.live is (label == "live")
    assert clip.reason == (None if label == "live" else "attack")


def test_a_repeated_live_frame_is_frozen(
    sequences: dict[tuple[str, str], list[Path]], pad_engine: Engine
) -> None:
    one = frames(pad_engine, sequences[("live", "0015")], 1)[0]
    replay = check_clip([one.copy() for _ in range(6)], pad_engine.detector.detect)
    assert replay.score >= replay.threshold  # the texture alone would pass it
    assert replay.frozen and not replay.live and replay.reason == "frozen"
    assert replay.duplicate_share == 1.0 and replay.motion == 0.0


def test_a_replay_with_every_frame_shown_twice_is_frozen(
    sequences: dict[tuple[str, str], list[Path]], pad_engine: Engine
) -> None:
    real = frames(pad_engine, sequences[("live", "0015")], 4)
    doubled = [f for f in real for _ in range(3)]
    clip = check_clip(doubled, pad_engine.detector.detect)
    assert clip.duplicate_share > 0.5 and clip.reason == "frozen"


def test_no_face_and_no_frames(pad_engine: Engine) -> None:
    grey = [np.full((120, 160, 3), v, np.uint8) for v in (100, 120, 140, 160)]
    clip = check_clip(grey, pad_engine.detector.detect)
    assert clip.faces == 0 and not clip.live and clip.reason == "too_few_faces"
    with pytest.raises(InvalidInput):
        check_clip([], pad_engine.detector.detect)


def test_a_video_file_is_read_in_order(
    tmp_path: Path, sequences: dict[tuple[str, str], list[Path]], pad_engine: Engine
) -> None:
    real = frames(pad_engine, sequences[("live", "0015")], 5)
    path = write_video(real, tmp_path / "clip.avi", 10)
    back = read_video(str(path))
    assert len(back) == 5
    assert np.mean(np.abs(back[2].astype(float) - real[2].astype(float))) < 6
    with pytest.raises(InvalidInput):
        read_video(str(tmp_path / "missing.avi"))
