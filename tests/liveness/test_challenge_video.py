"""``facewise challenge VIDEO`` on real NUAA frames written as short videos (MJPG, 2 fps: the
subset keeps every 10th frame of 20 fps captures): subject 0007's live sequence, who blinks
unasked within its first 20 frames but never turns, and a frozen replay of one of its frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from facewise.cli.main import main
from facewise.engine import Engine

from .conftest import frames, write_video

pytestmark = [pytest.mark.models, pytest.mark.data]
FPS = 2.0


def challenge(video: Path, *args: str) -> dict[str, Any]:
    out = CliRunner().invoke(main, ["challenge", str(video), *args, "--json"])
    assert out.exit_code == 0, out.output
    data: dict[str, Any] = json.loads(out.output)
    return data


def test_a_live_sequence_blinks_and_a_frozen_replay_fails(
    sequences: dict[tuple[str, str], list[Path]], pad_engine: Engine, tmp_path: Path
) -> None:
    live = frames(pad_engine, sequences[("live", "0007")], 20)
    clip = write_video(live, tmp_path / "live.avi", FPS)
    blinked = challenge(clip, "--steps", "blink,turn")
    assert blinked["steps"] == ["blink", "turn"] and blinked["done"] == ["blink"]
    assert blinked["state"] == "failed" and blinked["reason"] == "video_ended"
    assert blinked["live"] is False and blinked["frames"] == 20
    assert "another way" in blinked["message"]  # the accessible fallback
    frozen = challenge(write_video([live[0]] * 12, tmp_path / "frozen.avi", FPS), "--seed", "3")
    assert frozen["state"] == "failed" and frozen["reason"] == "frozen" and frozen["done"] == []
    assert frozen["frames"] < 12  # stopped as soon as it failed
    assert sorted(frozen["steps"]) == ["blink", "turn"]
    bad = CliRunner().invoke(main, ["challenge", str(clip), "--steps", "blink,blink", "--json"])
    assert bad.exit_code == 2 and json.loads(bad.output)["error"]["code"] == "invalid_input"
