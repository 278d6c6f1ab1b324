"""The alignment stage: a detection in, the crop an embedder was trained on out."""

from __future__ import annotations

from typing import Protocol

from facewise.types import AlignedFace, Detection, Image


class Aligner(Protocol):
    name: str
    size: int

    def align(self, image: Image, detection: Detection) -> AlignedFace:
        """The face of ``detection`` cropped from ``image`` ((H, W, 3) uint8 RGB)."""
        ...
