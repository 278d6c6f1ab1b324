"""The analysis stage: one face (a detection in its image) in, named attributes out."""

from __future__ import annotations

from typing import Any, Protocol

from facewise.types import Detection, Image


class Analyzer(Protocol):
    name: str
    """The attribute group it adds, e.g. "age_gender", "expression", "pose", "quality"."""

    def analyze(self, image: Image, detection: Detection) -> dict[str, Any]:
        """Attributes of the face in ``detection`` of ``image`` ((H, W, 3) uint8 RGB).

        The detection may come from any detector (landmarks may be None or of another scheme),
        or be the whole image when the input is already a tight face crop. Returns JSON-able
        values only (floats rounded sensibly, no numpy types)."""
        ...
