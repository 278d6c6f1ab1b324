"""Value types that flow through the stages (see DESIGN.md, "The flow of a face").

All are frozen, slotted dataclasses. Images are ``numpy.ndarray`` of shape (H, W, 3), dtype uint8,
RGB. Types that hold arrays compare by identity (``eq=False``: a generated ``__eq__`` over numpy
fields would raise); compare their fields, e.g. ``np.array_equal(a.vector, b.vector)``.
Coordinates are pixels in the image the object came from, x to the right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""An image: shape (H, W, 3), dtype uint8, RGB."""

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class BBox:
    """A box in pixels: (x1, y1) top-left inclusive, (x2, y2) bottom-right exclusive."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    def iou(self, other: BBox) -> float:
        """Intersection over union with another box, in [0, 1]."""
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def as_list(self) -> list[float]:
        return [round(v, 2) for v in (self.x1, self.y1, self.x2, self.y2)]


@dataclass(frozen=True, slots=True, eq=False)
class Detection:
    """A face found by a detector.

    ``landmarks`` is float32 (5, 2) in pixels, or None. Their meaning is named by
    ``landmark_scheme``: "dlib5" (dlib's 5-point model: the outer and inner corner of the eye on
    the image's right, then of the other eye, then the base of the nose) or "mtcnn5" (eye centres,
    nose tip, mouth corners; in each pair the point on the image's left first). ``score`` is the
    detector's own confidence (not comparable across detectors). ``detector`` names the backend.
    """

    bbox: BBox
    score: float
    landmarks: npt.NDArray[np.float32] | None
    detector: str
    landmark_scheme: str = "none"


@dataclass(frozen=True, slots=True, eq=False)
class AlignedFace:
    """A face crop in the geometry an embedder was trained with.

    ``pixels``: (S, S, 3) uint8 RGB. ``transform``: float64 (2, 3) affine map from source-image
    pixel coordinates to crop coordinates.
    """

    pixels: Image
    transform: npt.NDArray[np.float64]
    detection: Detection
    method: str


@dataclass(frozen=True, slots=True)
class EmbeddingSpace:
    """Names exactly what produced a vector; vectors from different spaces never compare."""

    model: str
    weights_sha256: str
    dim: int
    metric: Literal["cosine", "euclidean"]
    alignment: str
    flip: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weights_sha256": self.weights_sha256,
            "dim": self.dim,
            "metric": self.metric,
            "alignment": self.alignment,
            "flip": self.flip,
        }


@dataclass(frozen=True, slots=True, eq=False)
class Embedding:
    """A face descriptor: ``vector`` float32 (D,), L2-normalised, in ``space``."""

    vector: Vector
    space: EmbeddingSpace


@dataclass(frozen=True, slots=True, eq=False)
class Face:
    """Everything the stages found out about one face; enriched with ``dataclasses.replace``."""

    detection: Detection
    embedding: Embedding | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def bbox(self) -> BBox:
        return self.detection.bbox


@dataclass(frozen=True, slots=True, eq=False)
class Verification:
    """The answer to "same person?": the score, the threshold used and which operating point."""

    verified: bool
    score: float
    threshold: float
    operating_point: Literal["fmr", "accuracy"]
    metric: str
    model: str
    face_a: Face
    face_b: Face
    fmr: float | None = None
    """How often one comparison with a stranger scores at least ``score`` (from the space's
    calibration; None where the space has none)."""
