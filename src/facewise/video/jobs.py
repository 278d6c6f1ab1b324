"""The jobs behind ``facewise video`` and ``facewise blur``: analyse, then write.

Writing is a second pass over the file (:func:`facewise.video.media.rewrite`) that draws the
boxes :func:`facewise.video.analyze.frame_boxes` filled in offline (interpolated through misses,
held before and after), with the names decided for whole tracks.
"""

from __future__ import annotations

import io as _io
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from facewise.detectors.base import Detector
from facewise.errors import InvalidInput
from facewise.types import BBox, Image
from facewise.video.analyze import Options, VideoAnalysis, analyze, frame_boxes, person_of
from facewise.video.cover import Method, cover
from facewise.video.media import rewrite
from facewise.video.sources import open_source

if TYPE_CHECKING:
    from facewise.engine import Engine
    from facewise.gallery import Gallery

IMAGE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")


def video_detector(engine: Engine, name: str | None = None, *, score: float = 0.6) -> Detector:
    """The detector for video: YuNet unless named otherwise (small faces too: 12 px)."""
    if name in (None, "yunet"):
        from facewise.detectors.yunet import YunetDetector

        return YunetDetector(min_face=12, score_threshold=score)
    from facewise.registry import create_detector

    return create_detector(name, engine.settings)


def is_video(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def consenting(gallery: Gallery, names: Iterable[str]) -> set[str]:
    """The gallery names of the people to leave visible: each must be enrolled, and every one of
    their samples must carry a consent basis (else :class:`InvalidInput`)."""
    out = set()
    for name in names:
        person = gallery.require(name)
        samples = gallery.samples_of(person.name)
        lacking = [s for s in samples if not s.consent.strip() or s.consent == "unspecified"]
        if not samples or lacking:
            raise InvalidInput(
                f"{person.name!r} cannot be left visible: {len(lacking)} of {len(samples)} "
                "samples carry no consent basis"
            )
        out.add(person.name)
    return out


# --- the annotated video -------------------------------------------------------------------------

COLOURS = [(0, 200, 80), (255, 160, 0), (0, 160, 255), (230, 60, 200), (250, 230, 0)]


def annotate(image: Image, boxes: list[tuple[BBox, str, int]]) -> Image:
    for box, label, track in boxes:
        colour = COLOURS[track % len(COLOURS)] if label != "unknown" else (200, 200, 200)
        p1, p2 = (round(box.x1), round(box.y1)), (round(box.x2), round(box.y2))
        cv2.rectangle(image, p1, p2, colour, 2)
        cv2.putText(
            image, label, (p1[0], max(12, p1[1] - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1
        )
    return image


def write_annotated(
    source: str | os.PathLike[str], target: str | os.PathLike[str], analysis: VideoAnalysis
) -> dict[str, Any]:
    per = frame_boxes(analysis, hold=0, max_gap=2 * analysis.every + 12)
    names = {i.track.id: person_of(i) or "unknown" for i in analysis.tracks}

    def draw(index: int, image: Image) -> Image:
        shown = per[index] if index < len(per) else []
        return annotate(image, [(b, f"{names[t]} #{t}", t) for t, b in shown])

    return rewrite(source, target, draw, keep_audio=True, max_frames=analysis.frames)


# --- blurring ------------------------------------------------------------------------------------


def blur_image(
    engine: Engine,
    image: Image,
    *,
    method: Method,
    keep: set[str],
    gallery: Gallery | None,
    detector: Detector,
) -> tuple[Image, dict[str, Any]]:
    found = detector.detect(image)
    people: list[str | None] = [None] * len(found)
    if keep and found and gallery is not None:
        faces = engine.embed_detections(image, found)
        vectors = [f.embedding.vector for f in faces if f.embedding is not None]
        if len(vectors) == len(found):
            people = [d.person for d in gallery.decide(np.stack(vectors), top=1)]
    out = image.copy()
    covered, kept = [], []
    for det, person in zip(found, people, strict=True):
        if person is not None and person in keep:
            kept.append({"bbox": det.bbox.as_list(), "person": person})
            continue
        x1, y1, x2, y2 = cover(out, det.bbox, method)
        covered.append({"bbox": det.bbox.as_list(), "covered": [x1, y1, x2, y2]})
    report = {
        "kind": "image",
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "method": method,
        "faces": len(found),
        "covered": covered,
        "kept": kept,
        "metadata": "stripped (pixels re-encoded; no EXIF, GPS, XMP, ICC or text chunks)",
    }
    return out, report


def encode_image(image: Image, suffix: str) -> bytes:
    """Pixels only: a new file with no EXIF, GPS, XMP, ICC profile or text chunks."""
    from PIL import Image as PILImage

    fmt = IMAGE_FORMATS.get(suffix.lower())
    if fmt is None:
        raise InvalidInput(f"cannot write {suffix or 'a file without suffix'} images")
    buf = _io.BytesIO()
    pil = PILImage.fromarray(np.ascontiguousarray(image), mode="RGB")
    options: dict[str, Any] = {"quality": 92} if fmt in ("JPEG", "WEBP") else {}
    pil.save(buf, format=fmt, **options)
    return buf.getvalue()


def blur_video(
    engine: Engine,
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    method: Method,
    keep: set[str],
    gallery: Gallery | None,
    detector: Detector,
    every: int = 1,
    hold: int = 12,
    keep_audio: bool = False,
    max_seconds: float | None = None,
    on_cover: Callable[[int, tuple[int, int, int, int]], None] | None = None,
) -> dict[str, Any]:
    """Blur every face of a video file into ``target``; the report says what was covered.
    ``on_cover(frame, (x1, y1, x2, y2))`` is told every rectangle covered (for measurements)."""
    opts = Options(every=every, identify=bool(keep), hold=hold, min_hits=1)
    src = open_source(source, max_seconds=max_seconds)
    if src.live:
        src.close()
        raise InvalidInput("blur works on video files, not live sources")
    try:
        analysis = analyze(src, engine, detector=detector, gallery=gallery, options=opts)
    finally:
        src.close()
    hold = max(hold, 2 * every)
    per = frame_boxes(analysis, hold=hold, max_gap=max(2 * hold, 24))
    visible = {i.track.id for i in analysis.tracks if keep and person_of(i) in keep}
    observed = {(f, i.track.id) for i in analysis.tracks for f, _, _ in i.track.observations}
    counts = {"boxes": 0, "filled": 0}

    def draw(index: int, image: Image) -> Image:
        for track, box in per[index] if index < len(per) else []:
            if track in visible:
                continue
            covered = cover(image, box, method)
            if on_cover is not None:
                on_cover(index, covered)
            counts["boxes"] += 1
            counts["filled"] += (index, track) not in observed
        return image

    written = rewrite(source, target, draw, keep_audio=keep_audio, max_frames=analysis.frames)
    frames_with_faces = sum(1 for boxes in per if any(t not in visible for t, _ in boxes))
    return {
        "kind": "video",
        "frames": written["frames"],
        "width": written["width"],
        "height": written["height"],
        "fps": round(analysis.fps, 3),
        "method": method,
        "every": every,
        "hold": hold,
        "tracks": len(analysis.tracks),
        "covered_boxes": counts["boxes"],
        "filled_boxes": counts["filled"],
        "frames_with_faces": frames_with_faces,
        "kept": [
            {"track": i.track.id, "person": person_of(i)}
            for i in analysis.tracks
            if i.track.id in visible
        ],
        "audio": written["audio"],
        "metadata": "stripped (no container or stream tags)",
        "processing_fps": round(analysis.processing_fps, 2),
    }


__all__ = [
    "annotate",
    "blur_image",
    "blur_video",
    "consenting",
    "encode_image",
    "is_video",
    "video_detector",
    "write_annotated",
]
