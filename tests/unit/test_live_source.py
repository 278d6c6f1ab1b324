"""The live video source without a camera: a scripted reader that drops, fails to reconnect,
comes back and ends, to check reconnection with backoff, giving up, the newest-frame policy and
that a stream's credentials never reach the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import numpy as np
import pytest

from facewise.errors import InvalidInput
from facewise.types import Image
from facewise.video.sources import LiveSource

SECRET = "hunter2"
URL = f"rtsp://admin:{SECRET}@127.0.0.1:8554/door"


def frame(value: int) -> Image:
    return np.full((4, 6, 3), value % 256, dtype=np.uint8)


class Script:
    """Connection k (1, 2, ...) does what ``plan[k - 1]`` says: ``("frames", n, then)`` yields n
    frames worth 10 k + i, then ``then`` ("drop": a reset quoting the URL, "end": the stream
    ends); ``"refuse"`` fails to connect (as does every connection past the plan)."""

    def __init__(self, plan: list[object], pause: float = 0.01) -> None:
        self.plan = plan
        self.pause = pause
        self.connections = 0

    def __call__(self) -> Iterator[Image]:
        self.connections += 1
        k = self.connections
        step = self.plan[k - 1] if k <= len(self.plan) else "refuse"
        if step == "refuse":
            raise OSError(f"Connection refused: {URL}")
        assert isinstance(step, tuple)
        _, n, then = step

        def gen() -> Iterator[Image]:
            for i in range(n):
                time.sleep(self.pause)
                yield frame(10 * k + i)
            if then == "drop":
                raise OSError(f"Connection reset by peer ({URL})")

        return gen()


def test_a_dropped_stream_reconnects_then_gives_up_without_printing_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script = Script([("frames", 5, "drop"), "refuse", ("frames", 5, "end")])
    caplog.set_level(logging.INFO, logger="facewise.video.sources")
    started = time.monotonic()
    source = LiveSource(URL, reconnects=2, reader=script)
    seen = [int(f.image[0, 0, 0]) for f in source.frames()]
    took = time.monotonic() - started
    source.close()
    assert {v // 10 for v in seen} == {1, 3}, "frames from before the drop and after"
    assert seen == sorted(seen) and seen[-1] == 34, "in order, up to the last frame"
    assert source.reconnections == 1
    # after the drop: refused (0.5 s), back (1 s); after the end: two refusals, then done
    assert script.connections == 5
    assert 2.5 <= took < 10, took
    text = caplog.text
    assert "reconnecting (1/2)" in text and "gave up after 2 tries" in text
    assert SECRET not in text and "admin" not in text
    assert SECRET not in source.label


def test_a_slow_consumer_gets_the_newest_frame_not_a_backlog() -> None:
    script = Script([("frames", 120, "end")], pause=0.002)
    source = LiveSource(URL, reconnects=0, reader=script)
    seen = []
    for f in source.frames():
        seen.append(int(f.image[0, 0, 0]))
        time.sleep(0.03)
    source.close()
    assert seen == sorted(seen)
    assert source.dropped > 0 and len(seen) < 60, "old frames are dropped, never queued"
    assert seen[-1] == (10 + 119) % 256, "the last frame read is the last one handed out"


def test_a_source_that_never_connects_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput) as caught:
        LiveSource(URL, reconnects=3, reader=Script(["refuse"]))
    assert SECRET not in str(caught.value)
