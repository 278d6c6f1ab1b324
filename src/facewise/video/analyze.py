"""Who appears when: detect every K frames, track in between, fuse each track's embeddings into one
open-set decision, and lay the tracks out as a timeline.

Per track, faces are embedded on detection frames (every detection frame for the first
:attr:`Options.samples` samples, then every :attr:`Options.sample_every`-th), each weighted by its
quality score (:class:`facewise.analyzers.quality.QualityAnalyzer`); the fused vector is the
L2-normalised weighted mean, and :meth:`facewise.gallery.Gallery.decide` gives one decision for
it at the gallery's calibrated threshold (the same rule as a photo: ``fpir`` for this gallery's
size and shape). With ``expression``, each sampled face's 7 expression probabilities are averaged
per track, and the sequence of per-sample labels is kept (the dynamic expression).

:func:`fill_boxes` turns a track's observations into a box on every frame offline: linear
interpolation between two observations up to ``max_gap`` frames apart, and the first/last box
held for ``hold`` frames before the first and after the last observation, moved along the
track's velocity at that end. Blurring and the
annotated video draw these boxes, so a face the detector misses for a few frames stays covered.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from facewise.compare import threshold as verify_threshold
from facewise.detectors.base import Detector
from facewise.types import BBox, Detection, Image
from facewise.video.sources import FrameSource
from facewise.video.tracker import Box, Track, Tracker, to_bbox

if TYPE_CHECKING:
    from facewise.engine import Engine
    from facewise.gallery import Gallery

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Options:
    every: int = 3
    """Detect on every K-th frame; track in between."""
    identify: bool = True
    """Embed faces and decide who each track is (needs a gallery for names)."""
    expression: bool = False
    hold: int = 12
    """Frames a missed track's box is held (predicted); at least 12, and at least 2 K."""
    max_gap: int = 90
    """Frames after which a lost track can no longer be re-linked by appearance."""
    samples: int = 8
    sample_every: int = 5
    max_samples: int = 40
    min_hits: int = 2
    """A track needs this many detections to enter the timeline (a single hit is noise)."""
    quality: bool = True
    """Weight samples by the quality score (else equally)."""


@dataclass(slots=True, eq=False)
class TrackInfo:
    track: Track
    vectors: list[npt.NDArray[np.float32]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    expressions: list[dict[str, float]] = field(default_factory=list)
    expression_labels: list[tuple[int, str]] = field(default_factory=list)
    last_sample: int = -(10**9)
    decision: Any = None

    def fused(self) -> npt.NDArray[np.float32] | None:
        if not self.vectors:
            return None
        w = np.asarray(self.weights, dtype=np.float32)
        if float(w.sum()) <= 0:
            w = np.ones_like(w)
        mean = (np.stack(self.vectors) * w[:, None]).sum(axis=0)
        fused: npt.NDArray[np.float32] = (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(
            np.float32
        )
        return fused


@dataclass(slots=True, eq=False)
class VideoAnalysis:
    fps: float
    frames: int
    width: int
    height: int
    times: list[float]
    tracks: list[TrackInfo]
    every: int
    seconds: float
    """Wall-clock time of the analysis."""
    dropped: int = 0
    """Frames a live source replaced before they were processed (newest-frame policy)."""
    online: list[list[tuple[int, Box, bool]]] = field(default_factory=list)
    """Per frame, what the tracker drew while it ran: (track, box, observed)."""

    @property
    def processing_fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def detection_frame(index: int, every: int) -> bool:
    return index % every == 0


def analyze(
    source: FrameSource,
    engine: Engine,
    *,
    detector: Detector,
    gallery: Gallery | None = None,
    options: Options | None = None,
    on_frame: Callable[[int, Image, list[tuple[int, Box, bool]]], None] | None = None,
) -> VideoAnalysis:
    """Run the detector/tracker over ``source`` and decide who each track is."""
    opts = options or Options()
    every = max(1, opts.every)
    hold = max(opts.hold, 2 * every)
    relink = verify_threshold(engine.space, "fmr") if opts.identify else None
    tracker = Tracker(hold=hold, max_gap=max(opts.max_gap, hold), relink_threshold=relink)
    infos: dict[int, TrackInfo] = {}
    quality = engine.analyzer("quality") if opts.identify and opts.quality else None
    expression = engine.analyzer("expression") if opts.expression else None
    times: list[float] = []
    online: list[list[tuple[int, Box, bool]]] = []
    start = time.perf_counter()
    for frame in source.frames():
        image = frame.image
        times.append(frame.time)
        if detection_frame(frame.index, every):
            found = detector.detect(image)
            cache: dict[int, npt.NDArray[np.float32]] = {}

            def appearance(
                idx: list[int],
                image: Image = image,
                found: list[Detection] = found,
                cache: dict[int, npt.NDArray[np.float32]] = cache,
            ) -> npt.NDArray[np.float32] | None:
                if not opts.identify:
                    return None
                faces = engine.embed_detections(image, [found[i] for i in idx])
                vecs = [f.embedding.vector for f in faces if f.embedding is not None]
                cache.update(zip(idx, vecs, strict=True))
                return np.stack(vecs)

            drawn, matches = tracker.update(frame.index, found, appearance)
            for t in tracker.tracks:
                infos.setdefault(t.id, TrackInfo(t))
            if opts.identify or expression is not None:
                _sample(
                    engine,
                    image,
                    frame.index,
                    found,
                    matches,
                    infos,
                    cache,
                    opts,
                    quality,
                    expression,
                )
        else:
            drawn = tracker.predict(frame.index)
        boxes = [(b.track, b.box, b.observed) for b in drawn]
        online.append(boxes)
        if on_frame is not None:
            on_frame(frame.index, image, boxes)
    seconds = time.perf_counter() - start
    for t in tracker.all_tracks:
        infos.setdefault(t.id, TrackInfo(t))
    kept = [infos[t.id] for t in tracker.all_tracks if len(t.observations) >= min(opts.min_hits, 2)]
    if gallery is not None and opts.identify:
        _decide(gallery, kept)
    return VideoAnalysis(
        fps=source.fps,
        frames=len(times),
        width=source.width,
        height=source.height,
        times=times,
        tracks=kept,
        every=every,
        seconds=seconds,
        dropped=int(getattr(source, "dropped", 0)),
        online=online,
    )


def _sample(
    engine: Engine,
    image: Image,
    frame: int,
    found: list[Detection],
    matches: dict[int, int],
    infos: dict[int, TrackInfo],
    cache: dict[int, npt.NDArray[np.float32]],
    opts: Options,
    quality: Any,
    expression: Any,
) -> None:
    """Embed (and analyse) the matched faces whose track wants a sample on this frame."""
    wanted = []
    for i, tid in matches.items():
        info = infos[tid]
        n = len(info.vectors)
        if n >= opts.max_samples:
            continue
        if n < opts.samples or frame - info.last_sample >= opts.sample_every * opts.every:
            wanted.append(i)
    if not wanted:
        return
    if opts.identify:
        missing = [i for i in wanted if i not in cache]
        if missing:
            faces = engine.embed_detections(image, [found[i] for i in missing])
            for i, f in zip(missing, faces, strict=True):
                if f.embedding is not None:
                    cache[i] = f.embedding.vector
    for i in wanted:
        info = infos[matches[i]]
        info.last_sample = frame
        if opts.identify and i in cache:
            info.vectors.append(cache[i])
            info.weights.append(quality.score(image, found[i]) if quality is not None else 1.0)
        if expression is not None:
            out = expression.analyze(image, found[i])
            info.expressions.append(dict(out.get("expression_scores", {})))
            info.expression_labels.append((frame, str(out.get("expression"))))


def _decide(gallery: Gallery, infos: list[TrackInfo]) -> None:
    with_vectors = [(info, info.fused()) for info in infos]
    ready = [(info, v) for info, v in with_vectors if v is not None]
    if not ready:
        return
    decisions = gallery.decide(np.stack([v for _, v in ready]), top=3)
    for (info, _), decision in zip(ready, decisions, strict=True):
        info.decision = decision


def fill_boxes(track: Track, frames: int, *, hold: int, max_gap: int) -> dict[int, Box]:
    """A box on every frame the track covers: interpolated between observations up to
    ``max_gap`` frames apart, held ``hold`` frames before the first and after the last one
    (and on each side of a longer gap)."""
    obs = sorted(track.observations, key=lambda o: o[0])
    out: dict[int, Box] = {}
    for k, (f, box, _) in enumerate(obs):
        out[f] = box
        if k + 1 < len(obs):
            g, nxt, _ = obs[k + 1]
            if g - f <= max_gap:
                for j in range(f + 1, g):
                    a = (j - f) / (g - f)
                    out[j] = (1 - a) * box + a * nxt
                continue
            for j in range(f + 1, min(f + hold + 1, g)):
                out.setdefault(j, box)
            for j in range(max(g - hold, f + 1), g):
                out.setdefault(j, nxt)
    first, last = obs[0], obs[-1]
    back, ahead = _velocity(obs[:8], max_gap), _velocity(obs[-8:], max_gap)
    for j in range(max(0, first[0] - hold), first[0]):
        out.setdefault(j, first[1] + back * (j - first[0]))
    for j in range(last[0] + 1, min(frames, last[0] + hold + 1)):
        out.setdefault(j, last[1] + ahead * (j - last[0]))
    return out


def _velocity(obs: list[tuple[int, Box, float]], max_gap: int) -> Box:
    """Change of the box per frame over up to 8 observations at one end of a track (no gaps
    longer than ``max_gap``), for the held boxes before the first and after the last one: a face
    that walks out of the picture while the detector misses it is followed, not left behind."""
    if len(obs) < 2 or any(b[0] - a[0] > max_gap for a, b in itertools.pairwise(obs)):
        return np.zeros(4)
    span = obs[-1][0] - obs[0][0]
    if span < 2:
        return np.zeros(4)
    step: Box = (obs[-1][1] - obs[0][1]) / span
    return step


def frame_boxes(
    analysis: VideoAnalysis, *, hold: int = 12, max_gap: int = 24
) -> list[list[tuple[int, BBox]]]:
    """Per frame, every track's (filled) box."""
    per: list[list[tuple[int, BBox]]] = [[] for _ in range(analysis.frames)]
    for info in analysis.tracks:
        boxes = fill_boxes(info.track, analysis.frames, hold=hold, max_gap=max_gap)
        for f, box in boxes.items():
            if 0 <= f < analysis.frames:
                per[f].append((info.track.id, to_bbox(box)))
    return per


def _end(analysis: VideoAnalysis, frame: int) -> float:
    step = 1.0 / analysis.fps if analysis.fps > 0 else 0.0
    if frame + 1 < len(analysis.times):
        return analysis.times[frame + 1]
    return analysis.times[frame] + step


def segments_of(info: TrackInfo, analysis: VideoAnalysis) -> list[tuple[int, int]]:
    """Runs of frames (first, last) the track is seen in: observations at most ``2 K`` + the
    hold apart are one run (frames between detections belong to it)."""
    frames = sorted(f for f, _, _ in info.track.observations)
    split = 2 * analysis.every + 12
    runs: list[tuple[int, int]] = []
    for f in frames:
        if runs and f - runs[-1][1] <= split:
            runs[-1] = (runs[-1][0], f)
        else:
            runs.append((f, f))
    last = analysis.frames - 1
    return [(a, min(last, b + analysis.every - 1)) for a, b in runs]


def person_of(info: TrackInfo) -> str | None:
    return None if info.decision is None else info.decision.person


def _round(x: float | None, n: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), n)


def timeline(analysis: VideoAnalysis) -> list[dict[str, Any]]:
    rows = []
    for info in analysis.tracks:
        decision = info.decision
        for a, b in segments_of(info, analysis):
            rows.append(
                {
                    "person": person_of(info),
                    "start": round(analysis.times[a], 3),
                    "end": round(_end(analysis, b), 3),
                    "track": info.track.id,
                    "confidence": _round(decision.score if decision is not None else None),
                    "first_frame": a,
                    "last_frame": b,
                }
            )
    rows.sort(key=lambda r: (r["start"], r["track"]))
    return rows


def expression_summary(info: TrackInfo) -> dict[str, Any] | None:
    if not info.expressions:
        return None
    labels = sorted({k for e in info.expressions for k in e})
    mean = {k: round(float(np.mean([e.get(k, 0.0) for e in info.expressions])), 4) for k in labels}
    changes: list[dict[str, Any]] = []
    for frame, label in info.expression_labels:
        if not changes or changes[-1]["expression"] != label:
            changes.append({"frame": frame, "expression": label})
    dominant = max(mean, key=lambda k: mean[k]) if mean else None
    return {
        "dominant": dominant,
        "mean": mean,
        "changes": changes,
        "samples": len(info.expressions),
    }


def tracks(analysis: VideoAnalysis) -> list[dict[str, Any]]:
    out = []
    for info in analysis.tracks:
        obs = info.track.observations
        first, last = obs[0][0], obs[-1][0]
        decision = info.decision
        row: dict[str, Any] = {
            "track": info.track.id,
            "person": person_of(info),
            "start": round(analysis.times[first], 3),
            "end": round(_end(analysis, min(analysis.frames - 1, last)), 3),
            "detections": len(obs),
            "samples": len(info.vectors),
            "confidence": _round(decision.score if decision is not None else None),
        }
        if decision is not None:
            row["decision"] = {
                "accepted": decision.accepted,
                "threshold": _round(decision.threshold),
                "fpir": decision.fpir,
                "fpir_at_score": decision.fpir_at_score,
                "gallery_size": decision.gallery_size,
                "candidates": [{"person": c.person, "score": c.score} for c in decision.candidates],
            }
        summary = expression_summary(info)
        if summary is not None:
            row["expression"] = summary
        out.append(row)
    return out


def to_dict(analysis: VideoAnalysis) -> dict[str, Any]:
    """The JSON that ``facewise video --json`` prints and ``POST /v1/video`` answers."""
    return {
        "timeline": timeline(analysis),
        "tracks": tracks(analysis),
        "fps": round(analysis.fps, 3),
        "frames": analysis.frames,
        "width": analysis.width,
        "height": analysis.height,
        "every": analysis.every,
        "processing_fps": round(analysis.processing_fps, 2),
        "dropped_frames": analysis.dropped,
    }


TIMELINE_COLUMNS = ("person", "start", "end", "track", "confidence", "first_frame", "last_frame")


def timeline_csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(TIMELINE_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in TIMELINE_COLUMNS})
    return buf.getvalue()


__all__ = [
    "Options",
    "TrackInfo",
    "VideoAnalysis",
    "analyze",
    "fill_boxes",
    "frame_boxes",
    "timeline",
    "timeline_csv",
    "to_dict",
    "tracks",
]
