from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pytest

from facewise.compare import similarity, space_key, threshold
from facewise.errors import EmbeddingSpaceMismatch, InvalidInput, ModelError
from facewise.types import Embedding, EmbeddingSpace

DLIB = EmbeddingSpace(
    "dlib-resnet",
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    128,
    "cosine",
    "dlib-chip-150-0.25",
)


def unit(seed: int, dim: int = 128) -> npt.NDArray[np.float32]:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_similarity_is_cosine() -> None:
    a, b = unit(1), unit(2)
    assert similarity(Embedding(a, DLIB), Embedding(a, DLIB)) == pytest.approx(1.0, abs=1e-6)
    assert similarity(Embedding(a, DLIB), Embedding(b, DLIB)) == pytest.approx(float(a @ b))


def test_vectors_from_two_spaces_never_compare() -> None:
    flipped = dataclasses.replace(DLIB, flip=True)
    with pytest.raises(EmbeddingSpaceMismatch):
        similarity(Embedding(unit(1), DLIB), Embedding(unit(1), flipped))
    facenet = EmbeddingSpace("facenet", "x", 512, "cosine", "margin-crop-160")
    with pytest.raises(EmbeddingSpaceMismatch):
        similarity(Embedding(unit(1), DLIB), Embedding(unit(1, 512), facenet))


def test_thresholds_are_calibrated_and_ordered() -> None:
    fmr, acc = threshold(DLIB, "fmr"), threshold(DLIB, "accuracy")
    assert -1.0 < acc <= fmr < 1.0  # the strict operating point needs the higher score
    assert space_key(dataclasses.replace(DLIB, flip=True)) == "dlib-resnet+flip"


def test_unknown_operating_point_or_weights_are_errors() -> None:
    with pytest.raises(InvalidInput):
        threshold(DLIB, "best")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="no calibrated threshold"):
        threshold(dataclasses.replace(DLIB, weights_sha256="0" * 64), "fmr")
