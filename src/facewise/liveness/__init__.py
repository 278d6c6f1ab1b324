"""Liveness (presentation-attack detection).

* :mod:`.features` and :mod:`.model`: the passive cue on one face (colour LBP + a linear model
  trained by ``benchmarks/liveness_nuaa.py``, or a user's ONNX model by path).
* :class:`Liveness` / :func:`check`: one result per detected face, ``live``, ``score`` (the live
  probability), ``threshold``; a result, never an exception.
* :mod:`.clip`: the decision over a sequence of frames of one face (fused score, frozen or
  replayed input).
* :mod:`.challenge`: the active two-step challenge (blink, head turn) as a pure state machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facewise.liveness.model import PadModel, bundled
from facewise.types import BBox, Detection, Image


@dataclass(frozen=True, slots=True)
class Liveness:
    """The passive verdict on one face: live when ``score >= threshold``."""

    bbox: BBox
    live: bool
    score: float
    threshold: float
    model: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "bbox": self.bbox.as_list(),
            "live": self.live,
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
        }


def check(
    image: Image, detections: list[Detection], model: PadModel | None = None
) -> list[Liveness]:
    """The liveness of each detected face of ``image`` (the bundled model unless given)."""
    pad = model or bundled()
    scores = pad.scores(image, detections)
    return [
        Liveness(d.bbox, s >= pad.threshold, s, pad.threshold, pad.name)
        for d, s in zip(detections, scores, strict=True)
    ]


def check_pair(engine: Any, image_a: Any, image_b: Any, verification: Any) -> list[Liveness]:
    """The liveness of the two faces a verification compared (``face_a`` in ``image_a``,
    ``face_b`` in ``image_b``; images as ``Engine.load_image`` takes them)."""
    return [
        check(engine.load_image(image), [face.detection])[0]
        for image, face in ((image_a, verification.face_a), (image_b, verification.face_b))
    ]


class LivenessAnalyzer:
    """The analyzer form (``facewise analyze --what liveness``): ``{"liveness": {"live",
    "score", "threshold"}}`` for one face."""

    name = "liveness"

    def analyze(self, image: Image, detection: Detection) -> dict[str, Any]:
        result = check(image, [detection])[0].as_dict()
        result.pop("bbox")
        return {"liveness": result}
