"""The front door: plain functions over one default :class:`~facewise.engine.Engine`, built on
first use from :func:`~facewise.settings.load_settings` (models load lazily, once)::

    import facewise

    faces = facewise.embed("group.jpg")              # every face, with its embedding
    result = facewise.verify("a.jpg", "b.jpg")       # same person? score, threshold, fmr
    facewise.similarity(faces[0].embedding, faces[1].embedding)
    facewise.analyze("me.jpg", what=["age", "gender"])

For other settings or models, build an :class:`~facewise.engine.Engine` of your own; the
functions here are thread-safe (the default engine is built once, under a lock).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from facewise.compare import OperatingPoint
from facewise.compare import similarity as _similarity
from facewise.engine import DEFAULT_ANALYSIS, Engine
from facewise.io import ImageSource
from facewise.types import Detection, Embedding, Face, Verification

_engine: Engine | None = None
_lock = threading.Lock()


def default_engine() -> Engine:
    """The engine the functions below use (built from the settings on first call)."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = Engine()
        return _engine


def detect(image: ImageSource) -> list[Detection]:
    """Every face in ``image``: box, detector score, 5 landmarks; highest score first."""
    return default_engine().detect(image)


def embed(image: ImageSource, *, largest: bool = False) -> list[Face]:
    """Every face of ``image`` (or only the largest) with its L2-normalised embedding."""
    return default_engine().embed(image, largest=largest)


def verify(
    a: ImageSource, b: ImageSource, *, operating_point: OperatingPoint = "fmr"
) -> Verification:
    """Are the largest faces of ``a`` and ``b`` the same person? (calibrated threshold)"""
    return default_engine().verify(a, b, operating_point=operating_point)


def analyze(
    image: ImageSource, *, what: Sequence[str] = DEFAULT_ANALYSIS, largest: bool = False
) -> list[Face]:
    """Attributes of every face: any of age, gender, expression, pose, landmarks, mesh,
    quality (``face.attributes``)."""
    return default_engine().analyze(image, what=what, largest=largest)


def similarity(a: Embedding, b: Embedding) -> float:
    """Cosine similarity of two embeddings of the same space (in [-1, 1])."""
    return _similarity(a, b)


__all__ = ["analyze", "default_engine", "detect", "embed", "similarity", "verify"]
