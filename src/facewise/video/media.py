"""Writing a video: every frame of the input, changed by a callback, re-encoded with PyAV.

The output has the input's frame count, size and timestamps (H.264, CRF 18; 4:4:4 when a side is
odd, since 4:2:0 needs even sides). No metadata is carried over: the container and the streams get
no tags (FFmpeg's ``bitexact`` flags keep out even its encoder tag), so titles, GPS locations,
creation times and device names in the input are gone. Audio is copied packet for packet (no
re-encoding) when ``keep_audio``; otherwise the output has no audio stream.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from facewise.errors import ImageDecodeError, InvalidInput
from facewise.extras import require
from facewise.types import Image

log = logging.getLogger(__name__)

Draw = Callable[[int, Image], Image]
"""(frame index, RGB frame) -> the frame to write (may be the same array, changed in place)."""

FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}


def rewrite(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    draw: Draw,
    *,
    keep_audio: bool,
    max_frames: int | None = None,
) -> dict[str, Any]:
    """Decode ``source``, pass each frame through ``draw``, encode into ``target``. Returns
    ``{"frames", "width", "height", "audio"}`` of what was written."""
    av = require("av", extra="video")
    src, dst = Path(source), Path(target)
    fmt = FORMATS.get(dst.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"cannot write {dst.suffix or 'a file without suffix'}: use one of "
            + ", ".join(sorted(FORMATS))
        )
    try:
        inp = av.open(str(src), mode="r")
    except (av.error.FFmpegError, OSError) as exc:
        raise ImageDecodeError(f"{src.name} is not a readable video") from exc
    try:
        if not inp.streams.video:
            raise ImageDecodeError(f"{src.name} has no video stream")
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if keep_audio and inp.streams.audio else None
        out = av.open(str(dst), mode="w", format=fmt, options={"fflags": "+bitexact"})
        try:
            return _copy(av, inp, vin, ain, out, draw, max_frames, webm=fmt == "webm")
        finally:
            out.close()
    finally:
        inp.close()


def _copy(
    av: Any,
    inp: Any,
    vin: Any,
    ain: Any,
    out: Any,
    draw: Draw,
    max_frames: int | None,
    *,
    webm: bool,
) -> dict[str, Any]:
    width, height = int(vin.codec_context.width), int(vin.codec_context.height)
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    codec = "libvpx-vp9" if webm else "libx264"
    vout = out.add_stream(codec, rate=rate)
    vout.width, vout.height = width, height
    odd = width % 2 or height % 2
    vout.pix_fmt = "yuv444p" if odd else "yuv420p"
    vout.time_base = vin.time_base
    vout.codec_context.options = (
        {"crf": "18", "preset": "veryfast", "flags": "+bitexact"} if not webm else {"crf": "30"}
    )
    vout.metadata.clear()
    aout = None
    if ain is not None:
        aout = out.add_stream_from_template(ain)
        aout.metadata.clear()
    out.metadata.clear()
    written = 0
    audio_packets = 0
    streams = [vin] + ([ain] if ain is not None else [])
    last_pts: int | None = None
    for packet in inp.demux(*streams):
        if packet.stream is ain and aout is not None:
            if packet.dts is None:
                continue
            packet.stream = aout
            out.mux(packet)
            audio_packets += 1
            continue
        if max_frames is not None and written >= max_frames:
            continue
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            log.warning("skipping an undecodable packet: %s", exc)
            continue
        for frame in frames:
            if max_frames is not None and written >= max_frames:
                break
            image = draw(written, frame.to_ndarray(format="rgb24"))
            new = av.VideoFrame.from_ndarray(image, format="rgb24")
            pts = frame.pts
            if pts is None or (last_pts is not None and pts <= last_pts):
                pts = 0 if last_pts is None else last_pts + 1
            new.pts, new.time_base = pts, vin.time_base
            last_pts = pts
            for p in vout.encode(new):
                out.mux(p)
            written += 1
    for p in vout.encode(None):
        out.mux(p)
    return {"frames": written, "width": width, "height": height, "audio": audio_packets > 0}


__all__ = ["FORMATS", "Draw", "rewrite"]
