"""Turning enrollment photos into samples: reading them, naming them, their face and quality."""

from __future__ import annotations

import os

import numpy as np

from facewise import io
from facewise.engine import Engine, ImageSource
from facewise.errors import InvalidInput, NoFaceFound, PresentationAttack
from facewise.gallery.audit import base_name, safe_text
from facewise.gallery.records import NewSample, parse_time
from facewise.types import Face


def face_quality(face: Face) -> float:
    """Provisional sample quality in [0, 1] from face size (a face 112 px or wider scores 1)."""
    return float(np.clip(min(face.bbox.width, face.bbox.height) / 112.0, 0.05, 1.0))


def sample_from(
    engine: Engine,
    data: bytes,
    digest: str,
    source: str,
    *,
    largest: bool = False,
    liveness: bool = False,
) -> NewSample:
    """The face of an enrolment photo as a sample: exactly one face (or, with ``largest``, the
    largest), at least ``min_quality`` when that setting is on, and with ``liveness`` judged
    live by the bundled PAD model (:class:`PresentationAttack` otherwise)."""
    image = engine.load_image(data)
    faces = engine.embed_detections(image, engine.detector.detect(image))
    if not faces:
        raise NoFaceFound(f"no face found in {source}")
    if len(faces) > 1 and not largest:
        raise InvalidInput(
            f"{source} shows {len(faces)} faces; enrol photos of one person "
            "(or pass largest=True / --largest)"
        )
    face = max(faces, key=lambda f: f.bbox.area)
    assert face.embedding is not None
    floor = engine.settings.min_quality
    if floor > 0:
        quality = engine.analyzer("quality").analyze(image, face.detection)["quality"]
        if quality < floor:
            raise InvalidInput(
                f"{source}: face quality {quality:.2f} is below min_quality {floor:.2f}"
            )
    if liveness:
        from facewise.liveness import check

        verdict = check(image, [face.detection])[0]
        if not verdict.live:
            raise PresentationAttack(
                f"{source}: the face looks like a presentation attack (liveness score "
                f"{verdict.score:.3f} < threshold {verdict.threshold:.3f}); enrol a live capture"
            )
    b = face.bbox
    quality = face_quality(face)
    return NewSample(face.embedding.vector, digest, source, quality, (b.x1, b.y1, b.x2, b.y2))


def label_of(item: ImageSource, i: int, count: int) -> str:
    """How an image is named in ``skipped``: a file by its path as given, else image[i]."""
    if isinstance(item, str | os.PathLike):
        return safe_text(os.fsdecode(item))
    return "image" if count == 1 else f"image[{i}]"


def read_bytes(item: ImageSource, engine: Engine) -> bytes:
    """The encoded bytes of an image source (to hash it for provenance and resumable enrolment)."""
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, str | os.PathLike):
        return io.read_file(item, settings=engine.settings)
    if isinstance(item, np.ndarray):
        return io.load_image(item, settings=engine.settings).tobytes()
    raise InvalidInput(f"cannot enrol from {type(item).__name__}: give a path or image bytes")


def iso_time(value: str) -> str:
    """A date or datetime as the store's ISO UTC form (YYYY-MM-DDTHH:MM:SSZ, four-digit year);
    :class:`InvalidInput` for anything else, however extreme."""
    return parse_time(value)


def stored_source(source: str) -> str:
    """A sample's source as stored: valid UTF-8, and a file path (absolute, home-relative or
    with a drive letter) reduced to its base name, so no server folder is ever stored."""
    text = safe_text(source)
    if text.startswith(("/", "~", "./", "../", ".\\", "..\\")) or (
        len(text) > 2 and text[1] == ":" and text[2] in "/\\"
    ):
        return base_name(text)
    return text


__all__ = ["face_quality", "iso_time", "label_of", "read_bytes", "sample_from", "stored_source"]
