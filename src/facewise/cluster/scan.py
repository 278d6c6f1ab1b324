"""Every face of a photo, ready for a collection: box, quality, embedding and a thumbnail."""

from __future__ import annotations

import io as bytes_io
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage

from facewise import io
from facewise.errors import FacewiseError, InvalidInput
from facewise.gallery.samples import face_quality
from facewise.types import Face, Image

THUMBNAIL = 96
"""Side of a face thumbnail in pixels (JPEG, the box widened by a quarter on each side)."""
MAX_FACES = 200
"""Faces kept from one photo (the largest); a crowd photo beyond that is cut, with a warning."""


@dataclass(frozen=True, slots=True)
class FoundFace:
    bbox: tuple[float, float, float, float]
    """x1, y1, x2, y2 in pixels of the photo."""
    quality: float
    vector: npt.NDArray[np.float32]
    thumbnail: bytes
    """JPEG, :data:`THUMBNAIL` px square."""


@dataclass(frozen=True, slots=True)
class ScannedPhoto:
    sha256: str
    faces: list[FoundFace]
    width: int
    height: int


def thumbnail(image: Image, bbox: tuple[float, float, float, float]) -> bytes:
    """A square JPEG crop around ``bbox`` (clipped to the image), :data:`THUMBNAIL` px."""
    x1, y1, x2, y2 = bbox
    side = max(x2 - x1, y2 - y1) * 1.5
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    h, w = image.shape[:2]
    left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    right, bottom = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    if right <= left or bottom <= top:
        raise InvalidInput("face box outside the image")
    crop = PILImage.fromarray(np.ascontiguousarray(image[top:bottom, left:right]))
    crop = crop.resize((THUMBNAIL, THUMBNAIL), PILImage.Resampling.BILINEAR)
    out = bytes_io.BytesIO()
    crop.save(out, format="JPEG", quality=85)
    return out.getvalue()


def faces_of(engine: Any, data: bytes) -> ScannedPhoto:
    """Decode ``data`` and find, align and embed every face (the largest :data:`MAX_FACES`)."""
    image = engine.load_image(data)
    found = engine.detector.detect(image)
    found = sorted(found, key=lambda d: -d.bbox.area)[:MAX_FACES]
    faces: list[Face] = engine.embed_detections(image, found)
    out = []
    for face in faces:
        assert face.embedding is not None
        box = face.bbox
        bbox = (box.x1, box.y1, box.x2, box.y2)
        out.append(
            FoundFace(
                bbox=tuple(round(v, 2) for v in bbox),  # type: ignore[arg-type]
                quality=face_quality(face),
                vector=face.embedding.vector.astype(np.float32),
                thumbnail=thumbnail(image, bbox),
            )
        )
    return ScannedPhoto(io.image_sha256(data), out, image.shape[1], image.shape[0])


def scan_file(settings: dict[str, Any], path: str) -> ScannedPhoto | FacewiseError:
    """:func:`faces_of` a file, or the error that stopped it (runs in a worker process)."""
    from facewise.gallery.batch import worker_engine

    engine = worker_engine(settings)
    try:
        return faces_of(engine, io.read_file(path, settings=engine.settings))
    except FacewiseError as exc:
        return exc


__all__ = ["MAX_FACES", "THUMBNAIL", "FoundFace", "ScannedPhoto", "faces_of", "scan_file"]
