"""Comparing embeddings: similarity per space and thresholds calibrated on data.

Scores are cosine similarities of L2-normalised vectors, in [-1, 1], higher = more alike. Each
embedding space has two calibrated thresholds (``models/thresholds.json``, written by
``benchmarks/verify_lfw.py --write-thresholds`` from the LFW folds): ``fmr`` — the lowest score at
which the false-match rate on impostor pairs is at most 1e-3 — and ``accuracy`` — the score that
maximises verification accuracy.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from facewise.errors import EmbeddingSpaceMismatch, InvalidInput, ModelError
from facewise.types import Embedding, EmbeddingSpace

OperatingPoint = Literal["fmr", "accuracy"]
OPERATING_POINTS: tuple[OperatingPoint, ...] = ("fmr", "accuracy")


def space_key(space: EmbeddingSpace) -> str:
    """The name a space's thresholds are stored under: the model, plus "+flip" for flip fusion."""
    return space.model + ("+flip" if space.flip else "")


def check_same_space(a: EmbeddingSpace, b: EmbeddingSpace) -> None:
    if a != b:
        raise EmbeddingSpaceMismatch(
            f"cannot compare a vector from {a.as_dict()} with one from {b.as_dict()}"
        )


def similarity(a: Embedding, b: Embedding) -> float:
    """Cosine similarity of two embeddings of the same space."""
    check_same_space(a.space, b.space)
    return float(np.dot(a.vector, b.vector))


def threshold(space: EmbeddingSpace, operating_point: OperatingPoint = "fmr") -> float:
    """The calibrated decision threshold for ``space`` at ``operating_point``."""
    if operating_point not in OPERATING_POINTS:
        raise InvalidInput(
            f"operating point must be one of {', '.join(OPERATING_POINTS)}, got {operating_point!r}"
        )
    from facewise.calibration import entry_for

    entry = entry_for(space)
    if entry is None or operating_point not in entry:
        how = (
            "calibrate it on your own pairs: facewise calibrate --model onnx:FILE"
            + ("" if space.flip else " --no-flip")
            + " --pairs PAIRS.csv (README, 'Your own model')"
            if space.model.startswith("onnx:")
            else "run benchmarks/verify_lfw.py --write-thresholds"
        )
        raise ModelError(f"no calibrated threshold for {space_key(space)!r}; {how}")
    return float(entry[operating_point]["threshold"])
