"""Where frames come from: a file (PyAV, OpenCV as the fallback), a webcam index or an ``rtsp://``
URL (live).

A file is read frame by frame, every frame, with its presentation time. A live source runs a
reader thread that keeps only the newest frame (:class:`LatestFrame`: one slot, never a queue), so
a slow consumer skips frames instead of falling behind; when the stream drops, the thread
reconnects with exponential backoff. A URL is shown only through :func:`facewise.location.redact`
(no user name or password in a message or a log line).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from facewise.errors import ImageDecodeError, InvalidInput
from facewise.extras import MissingExtra, require
from facewise.location import redact
from facewise.types import Image

log = logging.getLogger(__name__)

LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://")


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    index: int
    """0, 1, 2... in the order frames were read (for a live source: frames handed out)."""
    time: float
    """Seconds from the first frame."""
    image: Image
    """(H, W, 3) uint8 RGB."""


class FrameSource(Protocol):
    fps: float
    width: int
    height: int
    live: bool
    label: str

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def is_live(spec: str) -> bool:
    return spec.isdigit() or spec.lower().startswith(LIVE_SCHEMES)


def open_source(
    spec: str | os.PathLike[str],
    *,
    max_seconds: float | None = None,
    connect_timeout: float = 5.0,
    reconnects: int = 5,
) -> FrameSource:
    """A file path, a webcam index (``"0"``) or a stream URL. Raises :class:`InvalidInput` for a
    missing file or a camera/stream that cannot be opened, :class:`ImageDecodeError` for a file
    that is not a readable video."""
    text = os.fspath(spec)
    if is_live(text):
        return LiveSource(
            text,
            max_seconds=max_seconds,
            connect_timeout=connect_timeout,
            reconnects=reconnects,
        )
    path = Path(text)
    if not path.is_file():
        raise InvalidInput(f"no such video file: {path.name}")
    try:
        return PyAVFile(path, max_seconds=max_seconds)
    except MissingExtra:
        log.warning("PyAV (facewise[video]) is not installed: reading %s with OpenCV", path.name)
        return OpenCVFile(path, max_seconds=max_seconds)


def _rgb(bgr: Any) -> Image:
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


class PyAVFile:
    """Every frame of a video file, decoded by PyAV (FFmpeg), with times from the stream's pts."""

    live = False

    def __init__(self, path: Path, *, max_seconds: float | None = None) -> None:
        av = require("av", extra="video")
        self.label = path.name
        self.max_seconds = max_seconds
        try:
            self._container = av.open(str(path), mode="r")
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise ImageDecodeError(f"{path.name} is not a readable video: {_reason(exc)}") from exc
        if not self._container.streams.video:
            self._container.close()
            raise ImageDecodeError(f"{path.name} has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        self.fps = float(rate)
        self.width = int(stream.codec_context.width)
        self.height = int(stream.codec_context.height)
        self.audio = bool(self._container.streams.audio)
        self.frame_count = int(stream.frames or 0)

    def frames(self) -> Iterator[Frame]:
        av = require("av", extra="video")
        first: float | None = None
        index = 0
        try:
            for frame in self._container.decode(self._stream):
                t = (
                    float(frame.pts * frame.time_base)
                    if frame.pts is not None and frame.time_base is not None
                    else index / self.fps
                )
                first = t if first is None else first
                t -= first
                if self.max_seconds is not None and t >= self.max_seconds:
                    return
                yield Frame(index, t, frame.to_ndarray(format="rgb24"))
                index += 1
        except av.error.FFmpegError as exc:
            if index == 0:
                raise ImageDecodeError(
                    f"{self.label} is not a readable video: {_reason(exc)}"
                ) from exc
            log.warning("%s: decoding stopped after %d frames: %s", self.label, index, exc)

    def close(self) -> None:
        self._container.close()


class OpenCVFile:
    """The fallback reader (no PyAV): OpenCV's VideoCapture; times from the frame rate."""

    live = False

    def __init__(self, path: Path, *, max_seconds: float | None = None) -> None:
        self.label = path.name
        self.max_seconds = max_seconds
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise ImageDecodeError(f"{path.name} is not a readable video")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 25.0)
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.audio = False
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def frames(self) -> Iterator[Frame]:
        index = 0
        while True:
            ok, bgr = self._cap.read()
            if not ok:
                if index == 0:
                    raise ImageDecodeError(f"{self.label} is not a readable video")
                return
            t = index / self.fps
            if self.max_seconds is not None and t >= self.max_seconds:
                return
            yield Frame(index, t, _rgb(bgr))
            index += 1

    def close(self) -> None:
        self._cap.release()


class LatestFrame:
    """One slot holding the newest frame: ``put`` replaces what is there (the older frame is
    dropped and counted), ``take`` waits for a frame newer than the last one taken."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: tuple[float, Image] | None = None
        self._serial = 0
        self._taken = 0
        self.dropped = 0
        self.closed = False

    def put(self, t: float, image: Image) -> None:
        with self._cond:
            if self._item is not None and self._serial > self._taken:
                self.dropped += 1
            self._item = (t, image)
            self._serial += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def take(self, timeout: float) -> tuple[float, Image] | None:
        """The newest frame not yet taken; None when closed or nothing came within ``timeout``."""
        with self._cond:
            end = time.monotonic() + timeout
            while self._serial == self._taken and not self.closed:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            if self._serial == self._taken:
                return None
            self._taken = self._serial
            return self._item


Reader = Callable[[], Iterator[Image]]


class LiveSource:
    """A camera or a stream: a reader thread, the newest-frame slot, reconnection with backoff.

    The first connection must succeed within ``connect_timeout`` (else :class:`InvalidInput`,
    at once). After a drop the thread retries ``reconnects`` times, waiting 0.5, 1, 2... s
    (at most 8 s) between tries; then the source ends."""

    live = True

    def __init__(
        self,
        spec: str,
        *,
        max_seconds: float | None = None,
        connect_timeout: float = 5.0,
        reconnects: int = 5,
        reader: Reader | None = None,
    ) -> None:
        self.spec = spec
        self.label = redact(spec)
        self.max_seconds = max_seconds
        self.connect_timeout = connect_timeout
        self.reconnects = reconnects
        self.fps = 25.0
        self.width = self.height = 0
        self.audio = False
        self.frame_count = 0
        self.reconnections = 0
        self._slot = LatestFrame()
        self._stop = threading.Event()
        self._reader = reader or self._open_reader
        first = self._connect()
        if first is None:
            raise InvalidInput(f"cannot open the video source {self.label}")
        self._thread = threading.Thread(
            target=self._run, args=(first,), name="facewise-video-reader", daemon=True
        )
        self._start = time.monotonic()
        self._thread.start()

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def _connect(self) -> tuple[Iterator[Image], Image] | None:
        """A running frame iterator and its first frame, or None."""
        try:
            frames = self._reader()
            image = next(frames)
        except StopIteration:
            return None
        except Exception as exc:  # any reader failure is a failed connection
            log.info("video source %s: %s", self.label, _scrub(_reason(exc)))
            return None
        self.height, self.width = image.shape[:2]
        return frames, image

    def _open_reader(self) -> Iterator[Image]:
        if self.spec.isdigit():
            return self._opencv(int(self.spec))
        try:
            av = require("av", extra="video")
        except MissingExtra:
            return self._opencv(self.spec)
        return self._pyav(av)

    def _opencv(self, target: int | str) -> Iterator[Image]:
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            raise InvalidInput("cannot open")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else 25.0

        def gen() -> Iterator[Image]:
            try:
                while not self._stop.is_set():
                    ok, bgr = cap.read()
                    if not ok:
                        return
                    yield _rgb(bgr)
            finally:
                cap.release()

        return gen()

    def _pyav(self, av: Any) -> Iterator[Image]:
        micro = str(int(self.connect_timeout * 1e6))
        options = {"rtsp_transport": "tcp", "timeout": micro, "rw_timeout": micro}
        if not self.spec.lower().startswith(("rtsp://", "rtsps://")):
            options = {"rw_timeout": micro}
        container = av.open(self.spec, mode="r", options=options, timeout=self.connect_timeout)
        stream = container.streams.video[0]
        if stream.average_rate:
            self.fps = float(stream.average_rate)

        def gen() -> Iterator[Image]:
            try:
                for frame in container.decode(stream):
                    if self._stop.is_set():
                        return
                    yield frame.to_ndarray(format="rgb24")
            finally:
                container.close()

        return gen()

    def _run(self, first: tuple[Iterator[Image], Image]) -> None:
        frames, image = first
        try:
            while not self._stop.is_set():
                self._slot.put(time.monotonic() - self._start, image)
                try:
                    image = next(frames)
                    continue
                except StopIteration:
                    pass
                except Exception as exc:
                    log.info("video source %s dropped: %s", self.label, _scrub(_reason(exc)))
                again = self._reconnect()
                if again is None:
                    return
                frames, image = again
        finally:
            self._slot.close()

    def _reconnect(self) -> tuple[Iterator[Image], Image] | None:
        delay = 0.5
        for attempt in range(1, self.reconnects + 1):
            if self._stop.wait(delay):
                return None
            log.warning(
                "video source %s: reconnecting (%d/%d)", self.label, attempt, self.reconnects
            )
            found = self._connect()
            if found is not None:
                self.reconnections += 1
                return found
            delay = min(delay * 2, 8.0)
        log.warning("video source %s: gave up after %d tries", self.label, self.reconnects)
        return None

    def frames(self) -> Iterator[Frame]:
        index = 0
        while True:
            item = self._slot.take(timeout=1.0)
            if item is None:
                waited = time.monotonic() - self._start
                if self._slot.closed or not self._thread.is_alive():
                    return
                if self.max_seconds is not None and waited >= self.max_seconds:
                    return
                continue
            t, image = item
            if self.max_seconds is not None and t >= self.max_seconds:
                return
            yield Frame(index, t, image)
            index += 1

    def close(self) -> None:
        self._stop.set()
        self._slot.close()
        with contextlib.suppress(RuntimeError):
            self._thread.join(timeout=2.0)


_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def _scrub(text: str) -> str:
    """Every URL in ``text`` without its credentials (FFmpeg's messages may quote the URL)."""
    return _URL.sub(lambda m: redact(m.group(0)), text)


def _reason(exc: BaseException) -> str:
    return _scrub(str(getattr(exc, "strerror", None) or exc) or type(exc).__name__)


__all__ = [
    "Frame",
    "FrameSource",
    "LatestFrame",
    "LiveSource",
    "OpenCVFile",
    "PyAVFile",
    "is_live",
    "open_source",
]
