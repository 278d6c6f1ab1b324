"""Synthetic face videos with exact ground truth, made from still photos (for tests and benchmarks).

Each person is one still (an LFW photo): its head region is cut out, feathered at the edges and
pasted onto a background, frame after frame, along a path (moving, growing or shrinking). The
ground-truth box of a face on a frame is the still's face box (given by the caller, e.g. the HOG
box on the still) mapped through the same scale and shift as the pixels, so it is exact for what
is drawn. Events: an *occluder* (a grey bar) crossing faces, a *cut* (the person jumps to another
place), and *absence* (frames where the person is not in the picture). Each truth row carries the
face's visible fraction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facewise.extras import require
from facewise.types import BBox, Image
from facewise.video.sources import Frame


@dataclass(frozen=True, slots=True)
class Actor:
    identity: str
    still: Image
    """The whole still, RGB."""
    face: BBox
    """The face box in the still."""
    start: tuple[float, float]
    """Centre of the face (pixels of the frame) on ``enter``."""
    velocity: tuple[float, float] = (0.0, 0.0)
    """Pixels per frame."""
    scale: float = 1.0
    """Face width in the frame / face width in the still, on ``enter``."""
    growth: float = 0.0
    """Change of ``scale`` per frame."""
    enter: int = 0
    leave: int = 10**9
    absent: tuple[tuple[int, int], ...] = ()
    """Frame ranges [a, b) without this person."""
    cut: tuple[int, tuple[float, float]] | None = None
    """From this frame on, the face's centre jumps to this place (a scene cut)."""


@dataclass(frozen=True, slots=True)
class Truth:
    frame: int
    identity: str
    box: BBox
    visible: float


@dataclass(slots=True)
class Clip:
    frames: list[Image]
    truth: list[list[Truth]]
    fps: float
    occluders: list[tuple[int, int, int, int] | None] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.frames[0].shape[:2]
        return w, h


def background(width: int, height: int, seed: int = 0) -> Image:
    """A smooth textured background without faces (scikit-image's coffee photo, resized)."""
    import skimage.data

    base = cv2.resize(skimage.data.coffee(), (width, height), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 4, base.shape)
    out: Image = np.clip(base.astype(np.float64) * 0.8 + noise, 0, 255).astype(np.uint8)
    return out


def _patch(actor: Actor) -> tuple[Image, np.ndarray[Any, np.dtype[np.float32]], BBox]:
    """The head region of the still (the face box grown 60%), its feathered alpha, and the face
    box in the patch's coordinates."""
    h, w = actor.still.shape[:2]
    f = actor.face
    gx, gy = f.width * 0.6, f.height * 0.6
    x1, y1 = max(0, int(f.x1 - gx)), max(0, int(f.y1 - gy))
    x2, y2 = min(w, int(f.x2 + gx)), min(h, int(f.y2 + gy))
    patch = actor.still[y1:y2, x1:x2]
    ph, pw = patch.shape[:2]
    yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
    edge = np.minimum.reduce([xx, yy, pw - 1 - xx, ph - 1 - yy]) / max(4.0, 0.12 * min(pw, ph))
    alpha = np.clip(edge, 0, 1).astype(np.float32)
    return patch, alpha, BBox(f.x1 - x1, f.y1 - y1, f.x2 - x1, f.y2 - y1)


def render(
    actors: Sequence[Actor],
    frames: int,
    *,
    width: int = 640,
    height: int = 360,
    fps: float = 25.0,
    occluder: tuple[int, int, float] | None = None,
    seed: int = 0,
) -> Clip:
    """The frames and their truth. ``occluder`` = (first frame, last frame, speed px/frame): a
    vertical grey bar sweeping left to right over that span."""
    bg = background(width, height, seed)
    pieces = [_patch(a) for a in actors]
    out: list[Image] = []
    truth: list[list[Truth]] = []
    bars: list[tuple[int, int, int, int] | None] = []
    for t in range(frames):
        frame = bg.copy()
        rows: list[Truth] = []
        for actor, (patch, alpha, face) in zip(actors, pieces, strict=True):
            if not actor.enter <= t < actor.leave or any(a <= t < b for a, b in actor.absent):
                continue
            s = actor.scale + actor.growth * (t - actor.enter)
            cx = actor.start[0] + actor.velocity[0] * (t - actor.enter)
            cy = actor.start[1] + actor.velocity[1] * (t - actor.enter)
            if actor.cut is not None and t >= actor.cut[0]:
                dt = t - actor.cut[0]
                cx = actor.cut[1][0] + actor.velocity[0] * dt
                cy = actor.cut[1][1] + actor.velocity[1] * dt
            fcx, fcy = (face.x1 + face.x2) / 2, (face.y1 + face.y2) / 2
            ox, oy = cx - fcx * s, cy - fcy * s  # patch origin in the frame
            matrix = np.array([[s, 0, ox], [0, s, oy]], dtype=np.float64)
            warped = cv2.warpAffine(patch, matrix, (width, height), flags=cv2.INTER_LINEAR)
            a = cv2.warpAffine(alpha, matrix, (width, height), flags=cv2.INTER_LINEAR)[..., None]
            frame = (frame * (1 - a) + warped * a).astype(np.uint8)
            box = BBox(ox + face.x1 * s, oy + face.y1 * s, ox + face.x2 * s, oy + face.y2 * s)
            inside = BBox(max(0, box.x1), max(0, box.y1), min(width, box.x2), min(height, box.y2))
            vis = inside.area / box.area if box.area > 0 and inside.width > 0 else 0.0
            if vis > 0:
                rows.append(Truth(t, actor.identity, inside, vis))
        bar = None
        if occluder is not None and occluder[0] <= t <= occluder[1]:
            bx = int((t - occluder[0]) * occluder[2])
            bar = (bx, 0, bx + max(60, width // 8), height)
            frame[:, bar[0] : bar[2]] = 128
            rows = [
                Truth(r.frame, r.identity, r.box, r.visible * (1 - _overlap(r.box, bar)))
                for r in rows
            ]
        bars.append(bar)
        out.append(np.ascontiguousarray(frame))
        truth.append(rows)
    return Clip(out, truth, fps, bars)


def _overlap(box: BBox, bar: tuple[int, int, int, int]) -> float:
    ix = max(0.0, min(box.x2, bar[2]) - max(box.x1, bar[0]))
    return ix / box.width if box.width > 0 else 0.0


def write(
    frames: Sequence[Image],
    path: str | os.PathLike[str],
    *,
    fps: float = 25.0,
    audio: bool = False,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Encode ``frames`` (H.264 in MP4) with an optional AAC tone and container tags."""
    av = require("av", extra="video")
    target = Path(path)
    h, w = frames[0].shape[:2]
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(target), mode="w") as out:
        if metadata:
            out.metadata.update(metadata)
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "crf": "16"}
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=16000)
            sound.layout = "mono"
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1) / rate
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
        if sound is not None:
            seconds = len(frames) / fps
            n = int(seconds * 16000)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)).astype(np.float32)
            for k in range(0, n, 1024):
                chunk = tone[k : k + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                af.sample_rate = 16000
                af.pts = k
                for p in sound.encode(af):
                    out.mux(p)
            for p in sound.encode(None):
                out.mux(p)
    return target


class ArraySource:
    """Frames already in memory, as a :class:`facewise.video.sources.FrameSource`."""

    live = False

    def __init__(self, frames: Sequence[Image], fps: float = 25.0) -> None:
        self._frames = frames
        self.fps = fps
        self.height, self.width = frames[0].shape[:2]
        self.label = "<frames>"

    def frames(self) -> Iterator[Frame]:
        for i, image in enumerate(self._frames):
            yield Frame(i, i / self.fps, image)

    def close(self) -> None:
        return None


SCENARIOS = ("moving", "scaling", "occluded", "cut")
"""The clips of the tracking and blur benchmarks (:func:`scenario`)."""


def scenario(
    name: str,
    people: Sequence[tuple[str, Image, BBox]],
    rng: np.random.Generator,
    *,
    frames: int = 100,
    width: int = 640,
    height: int = 360,
) -> Clip:
    """One benchmark clip of two people (``people``: identity, still, face box in the still),
    positions and speeds drawn from ``rng``; faces never overlap each other.

    - ``moving``: two horizontal lanes (y = 100 and 260, faces ~60 px); each person walks across
      at 2-4 px/frame, in opposite directions, and may leave the picture at the side.
    - ``scaling``: left and right halves; one face grows from ~50 to ~110 px, the other shrinks
      from ~110 to ~50 px, drifting up to 0.5 px/frame.
    - ``occluded``: the lanes of ``moving`` at 1-2 px/frame, and a grey bar (80 px wide) sweeping
      left to right at 6-9 px/frame from frame 10.
    - ``cut``: left and right halves; at a frame in 40-60 the first person jumps 80-140 px (a scene
      cut); the second leaves for 20-30 frames from frame 25-35 and comes back where it was.
    """
    if len(people) < 2:
        raise ValueError("a scenario needs two people")
    (ida, sta, fa), (idb, stb, fb) = people[0], people[1]

    def fit(face: BBox, width_px: float) -> float:
        return width_px / max(face.width, 1.0)

    occluder: tuple[int, int, float] | None = None
    if name in ("moving", "occluded"):
        lo, hi = (2.0, 4.0) if name == "moving" else (1.0, 2.0)
        va, vb = rng.uniform(lo, hi), rng.uniform(lo, hi)
        size = rng.uniform(55, 65)
        actors = [
            Actor(ida, sta, fa, start=(rng.uniform(40, 200), 100.0), velocity=(va, 0.0),
                  scale=fit(fa, size)),
            Actor(idb, stb, fb, start=(rng.uniform(440, 600), 260.0), velocity=(-vb, 0.0),
                  scale=fit(fb, size)),
        ]  # fmt: skip
        if name == "occluded":
            occluder = (10, frames - 1, float(rng.uniform(6, 9)))
    elif name == "scaling":
        g = (110 - 50) / frames
        drift = rng.uniform(-0.5, 0.5, size=4)
        actors = [
            Actor(ida, sta, fa, start=(160.0, 180.0), velocity=(drift[0], drift[1]),
                  scale=fit(fa, 50), growth=g * fit(fa, 1)),
            Actor(idb, stb, fb, start=(480.0, 180.0), velocity=(drift[2], drift[3]),
                  scale=fit(fb, 110), growth=-g * fit(fb, 1)),
        ]  # fmt: skip
    elif name == "cut":
        at = int(rng.integers(40, 61))
        jump = rng.uniform(80, 140) * rng.choice([-1.0, 1.0])
        ya = rng.uniform(120, 240)
        away = int(rng.integers(25, 36))
        back = away + int(rng.integers(20, 31))
        actors = [
            Actor(ida, sta, fa, start=(160.0, ya), scale=fit(fa, 70),
                  cut=(at, (160.0 + jump / 2, float(np.clip(ya - jump, 90, 270))))),
            Actor(idb, stb, fb, start=(480.0, rng.uniform(120, 240)), scale=fit(fb, 70),
                  absent=((away, back),)),
        ]  # fmt: skip
    else:
        raise ValueError(f"unknown scenario {name!r} (one of {', '.join(SCENARIOS)})")
    seed = int(rng.integers(0, 2**31))
    return render(actors, frames, width=width, height=height, occluder=occluder, seed=seed)


__all__ = [
    "SCENARIOS",
    "Actor",
    "ArraySource",
    "Clip",
    "Truth",
    "background",
    "render",
    "scenario",
    "write",
]
