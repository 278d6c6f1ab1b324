"""Open-set identification thresholds: the score a gallery's best candidate must reach to be
accepted, chosen for a target false-positive identification rate (FPIR: the share of probes of
people *not* in the gallery that are wrongly accepted as someone). Calibrated on LFW dev by
``benchmarks/identify_lfw.py --write-thresholds`` and stored beside the verification thresholds.
"""

from __future__ import annotations

from facewise import models
from facewise.compare import space_key
from facewise.errors import InvalidInput, ModelError
from facewise.types import EmbeddingSpace


def identify_threshold(space: EmbeddingSpace, fpir: float, template: str) -> float:
    entry = models.thresholds().get(space_key(space), {})
    table = entry.get("identify", {}).get(template)
    if entry.get("weights_sha256") != space.weights_sha256 or not table:
        raise ModelError(
            f"no calibrated identification threshold for {space_key(space)!r} "
            f"({template} template); run benchmarks/identify_lfw.py "
            "--write-thresholds"
        )
    key = f"fpir={fpir:g}"
    if key not in table["thresholds"]:
        known = ", ".join(sorted(table["thresholds"]))
        raise InvalidInput(f"no threshold calibrated for FPIR {fpir:g}; calibrated: {known}")
    return float(table["thresholds"][key])
