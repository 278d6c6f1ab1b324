"""The embedding stage: aligned crops in, L2-normalised vectors in a named space out."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from facewise.align.base import Aligner
from facewise.types import AlignedFace, Embedding, EmbeddingSpace


class Embedder(Protocol):
    name: str
    aligner: Aligner
    detector: str
    """The detector whose boxes the aligner expects (used when settings say "auto")."""

    @property
    def space(self) -> EmbeddingSpace: ...

    def vectors(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Raw descriptors of aligned crops (N, S, S, 3) uint8 RGB: float32 (N, D), unnormalised."""
        ...


def space_for(name: str, dim: int, aligner: Aligner) -> EmbeddingSpace:
    """The space of a bundled embedder: its name, its weights' checksum, its alignment."""
    from facewise import models

    return EmbeddingSpace(
        model=name,
        weights_sha256=models.info(name).sha256,
        dim=dim,
        metric="cosine",
        alignment=aligner.name,
    )


def l2_normalise(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms: npt.NDArray[np.float32] = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def embed_batch(
    embedder: Embedder, faces: Sequence[AlignedFace], *, flip: bool = False
) -> list[Embedding]:
    """Embed several aligned faces in one call. With ``flip``, each crop's mirror image is embedded
    too and the two descriptors are averaged (test-time flip fusion) before normalising."""
    if not faces:
        return []
    crops = np.stack([f.pixels for f in faces])
    raw = embedder.vectors(crops)
    if flip:
        raw = raw + embedder.vectors(np.ascontiguousarray(crops[:, :, ::-1]))
    space = dataclasses.replace(embedder.space, flip=flip)
    return [Embedding(v, space) for v in l2_normalise(raw)]
