"""Fakes for tests of the plumbing (gallery, forgetting, routes, the CLI) that need no weights and
no data: a detector and an embedder that give deterministic vectors in a space of their own, and
pictures of synthetic "faces" they recognise.

A synthetic face is a flat coloured square on a black background; its colour encodes a person
(``identity``, 0-783) and a photo of them (``variant``, 0-27) in steps of 8 per channel, so it
survives JPEG. :class:`FakeDetector` finds the squares; :class:`FakeEmbedder` reads the colour
back and returns the person's own direction plus a little photo-specific noise. Photos of one
person score about 0.97 against each other, of two people about 0 (32-D vectors)::

    from facewise.testing import fake_engine, face_png

    engine = fake_engine()
    with Gallery(tmp_path, engine) as g:
        g.enroll("Ada", [face_png(1, 0), face_png(1, 1)], consent="test")
        [hit] = g.identify(face_png(1, 2))

:func:`fake_engine` also registers a calibration for the fake space (verification thresholds and
the non-mated model, fitted on fake faces), so verify and identify work as with a real model.
Nothing here is imported by facewise itself.
"""

from __future__ import annotations

import io as _io
import threading
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facewise.types import AlignedFace, BBox, Detection, EmbeddingSpace, Image

STEP = 8
LEVELS = 28  # colour levels per channel: 16 + 8 * k for k < 28 stays below 240
IDENTITIES = LEVELS * LEVELS
DIM = 32
NOISE = 0.25
SPACE = EmbeddingSpace(
    model="fake", weights_sha256="0" * 64, dim=DIM, metric="cosine", alignment="fake-crop"
)


def _colour(identity: int, variant: int) -> tuple[int, int, int]:
    if not 0 <= identity < IDENTITIES or not 0 <= variant < LEVELS:
        raise ValueError(f"identity 0-{IDENTITIES - 1} and variant 0-{LEVELS - 1}")
    r, g = divmod(identity, LEVELS)
    return 16 + STEP * r, 16 + STEP * g, 16 + STEP * variant


def make_face(
    identity: int,
    variant: int = 0,
    *,
    size: int = 160,
    others: tuple[tuple[int, int], ...] = (),
) -> Image:
    """A (size, size, 3) uint8 RGB picture of person ``identity`` (photo ``variant``), plus one
    more face per ``(identity, variant)`` in ``others``, side by side (the first is largest)."""
    faces = [(identity, variant), *others]
    image = np.zeros((size, size * len(faces), 3), dtype=np.uint8)
    for i, (who, photo) in enumerate(faces):
        side = size // 2 if i == 0 else size // 3
        x0, y0 = i * size + (size - side) // 2, (size - side) // 2
        image[y0 : y0 + side, x0 : x0 + side] = _colour(who, photo)
    return image


def face_png(identity: int, variant: int = 0, **kw: Any) -> bytes:
    """:func:`make_face` as PNG bytes (an upload, an enrolment photo)."""
    ok, data = cv2.imencode(
        ".png", cv2.cvtColor(make_face(identity, variant, **kw), cv2.COLOR_RGB2BGR)
    )
    assert ok
    return data.tobytes()


def no_face_png(size: int = 96) -> bytes:
    """A black PNG: no face."""
    ok, data = cv2.imencode(".png", np.zeros((size, size, 3), np.uint8))
    assert ok
    return data.tobytes()


class FakeDetector:
    """Finds the coloured squares: each is a face, with 5 landmarks inside its box."""

    name = "fake"

    def detect(self, image: Image) -> list[Detection]:
        mask = (image.max(axis=2) > STEP).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        found = []
        for x, y, w, h, area in stats[1:count]:
            if area < 64:
                continue
            box = BBox(float(x), float(y), float(x + w), float(y + h))
            marks = np.array(
                [
                    [x + 0.7 * w, y + 0.35 * h],
                    [x + 0.55 * w, y + 0.35 * h],
                    [x + 0.3 * w, y + 0.35 * h],
                    [x + 0.45 * w, y + 0.35 * h],
                    [x + 0.5 * w, y + 0.6 * h],
                ],
                dtype=np.float32,
            )
            found.append(Detection(box, 1.0, marks, "fake", "dlib5"))
        return sorted(found, key=lambda d: -d.bbox.area)


class FakeAligner:
    name = "fake-crop"
    size = 16

    def align(self, image: Image, detection: Detection) -> AlignedFace:
        b = detection.bbox
        y1, x1 = int(b.y1), int(b.x1)
        crop = image[y1 : max(int(b.y2), y1 + 1), x1 : max(int(b.x2), x1 + 1)]
        pixels = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_NEAREST)
        scale = self.size / max(b.width, 1.0)
        transform = np.array([[scale, 0, -b.x1 * scale], [0, scale, -b.y1 * scale]], np.float64)
        return AlignedFace(np.ascontiguousarray(pixels), transform, detection, self.name)


def identity_vector(identity: int, variant: int) -> npt.NDArray[np.float32]:
    """The fake embedding of one photo, unnormalised: the person's direction plus noise."""
    base = np.random.default_rng(identity).normal(size=DIM)
    noise = np.random.default_rng(10_000 + identity * LEVELS + variant).normal(size=DIM)
    v: npt.NDArray[np.float64] = base / np.linalg.norm(base) + NOISE * noise / np.sqrt(DIM)
    return v.astype(np.float32)


def decode(pixels: npt.NDArray[np.uint8]) -> tuple[int, int]:
    """(identity, variant) from a crop's median colour."""
    r, g, b = (round((float(np.median(pixels[..., c])) - 16) / STEP) for c in range(3))
    r, g, b = (min(max(v, 0), LEVELS - 1) for v in (r, g, b))
    return r * LEVELS + g, b


class FakeEmbedder:
    """32-D vectors read from the synthetic faces' colours (see the module docstring)."""

    name = "fake"
    detector = "fake"

    def __init__(self) -> None:
        from facewise.align.base import Aligner

        self.aligner: Aligner = FakeAligner()

    @property
    def space(self) -> EmbeddingSpace:
        return SPACE

    def vectors(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return np.stack([identity_vector(*decode(c)) for c in crops]).astype(np.float32)


_calibrated = threading.Lock()
_done = False


def calibrate_fake_space() -> None:
    """Register verification thresholds and a non-mated model for the fake space, fitted on 300
    fake people x 4 photos (once per process)."""
    global _done
    with _calibrated:
        if _done:
            return
        from facewise import calibration

        people = np.repeat(np.arange(300), 4)
        photos = np.tile(np.arange(4), 300)
        vectors = np.stack(
            [identity_vector(int(i), int(v)) for i, v in zip(people, photos, strict=True)]
        )
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        names = np.array([f"p{i}" for i in people])
        model = calibration.fit_model(vectors, names, max_samples=3, source="facewise.testing")
        strangers = calibration.non_mated_scores(vectors, names, template="mean", samples=1)
        same = [float(vectors[i] @ vectors[i + 1]) for i in range(0, len(vectors), 4)]
        at_fmr = float(np.quantile(strangers, 1 - 1e-3))
        calibration.register(
            SPACE,
            {
                "fmr": {"threshold": at_fmr, "target_fmr": 1e-3},
                "accuracy": {"threshold": float((min(same) + max(strangers)) / 2)},
                "nonmated": model.as_dict(),
            },
        )
        _done = True


def fake_engine(settings: Any = None, *, flip: bool = False) -> Any:
    """An :class:`~facewise.engine.Engine` with the fake detector and embedder (calibrated)."""
    from facewise.engine import Engine
    from facewise.settings import Settings

    calibrate_fake_space()
    return Engine(
        settings or Settings(), detector=FakeDetector(), embedder=FakeEmbedder(), flip=flip
    )


def jpeg(image: Image, quality: int = 90) -> bytes:
    """An image as JPEG bytes (PIL), for tests that need a lossy upload."""
    from PIL import Image as PILImage

    out = _io.BytesIO()
    PILImage.fromarray(image).save(out, format="JPEG", quality=quality)
    return out.getvalue()


__all__ = [
    "SPACE",
    "FakeAligner",
    "FakeDetector",
    "FakeEmbedder",
    "calibrate_fake_space",
    "decode",
    "face_png",
    "fake_engine",
    "identity_vector",
    "jpeg",
    "make_face",
    "no_face_png",
]
