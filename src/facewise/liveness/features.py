"""The passive cue's features: colour texture of the face crop.

The crop is the detector's box grown by :attr:`FeatureConfig.margin` on every side (clipped to the
image), resized to ``size`` x ``size`` with area interpolation. For each channel of each colour
space (HSV and YCrCb by default), at each radius, the histogram of uniform LBP codes is taken
(8 neighbours on the square of that radius, mapped to the 59 non-rotation-invariant uniform bins
as ``skimage``'s ``"nri_uniform"`` does; integer offsets, so no interpolation, in plain numpy:
~10x faster than ``skimage.feature.local_binary_pattern``), normalised to sum 1. A printed photo
loses chroma detail and gains print texture that these histograms see (Boulkenafet et al.,
"Face anti-spoofing based on color texture analysis", ICIP 2015). A frequency cue follows: the
share of the grey crop's spectral energy in ``bands`` radial bands (a print re-photographed is
blurred and has less high-frequency energy). Pure numpy and OpenCV: no model at run time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput
from facewise.types import BBox, Image

NRI_BINS = 59
"""``nri_uniform`` LBP with 8 neighbours has 58 uniform codes plus one for the rest."""


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    size: int = 64
    margin: float = 0.1
    spaces: tuple[str, ...] = ("hsv", "ycrcb")
    radii: tuple[int, ...] = (1, 2)
    bands: int = 8

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["spaces"], out["radii"] = list(self.spaces), list(self.radii)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        return cls(
            size=int(data["size"]),
            margin=float(data["margin"]),
            spaces=tuple(str(s) for s in data["spaces"]),
            radii=tuple(int(r) for r in data["radii"]),
            bands=int(data["bands"]),
        )

    @property
    def length(self) -> int:
        return len(self.spaces) * 3 * len(self.radii) * NRI_BINS + self.bands


_CONVERSIONS = {"hsv": "COLOR_RGB2HSV", "ycrcb": "COLOR_RGB2YCrCb", "lab": "COLOR_RGB2LAB"}


def crop(image: Image, box: BBox, config: FeatureConfig) -> npt.NDArray[np.uint8]:
    """The face crop the features are taken from: (size, size, 3) uint8 RGB."""
    import cv2

    h, w = image.shape[:2]
    mx, my = box.width * config.margin, box.height * config.margin
    x1, y1 = max(0, round(box.x1 - mx)), max(0, round(box.y1 - my))
    x2, y2 = min(w, round(box.x2 + mx)), min(h, round(box.y2 + my))
    if x2 - x1 < 8 or y2 - y1 < 8:
        raise InvalidInput(f"face box {box.as_list()} is too small for a liveness check (< 8 px)")
    patch = np.ascontiguousarray(image[y1:y2, x1:x2])
    out = cv2.resize(patch, (config.size, config.size), interpolation=cv2.INTER_AREA)
    return np.asarray(out, dtype=np.uint8)


def features(patch: npt.NDArray[np.uint8], config: FeatureConfig) -> npt.NDArray[np.float64]:
    """The feature vector of a crop from :func:`crop`: (config.length,) float64."""
    import cv2

    parts: list[npt.NDArray[np.float64]] = []
    for space in config.spaces:
        if space not in _CONVERSIONS:
            raise InvalidInput(
                f"unknown colour space {space!r}; choose from {sorted(_CONVERSIONS)}"
            )
        converted = cv2.cvtColor(patch, getattr(cv2, _CONVERSIONS[space]))
        for channel in range(3):
            plane = np.ascontiguousarray(converted[:, :, channel], dtype=np.uint8)
            for radius in config.radii:
                codes = _UNIFORM[lbp_codes(plane, radius)].ravel()
                hist = np.bincount(codes, minlength=NRI_BINS).astype(np.float64)
                parts.append(hist / max(1.0, hist.sum()))
    parts.append(spectrum_bands(patch, config.bands))
    return np.concatenate(parts)


def _uniform_table() -> npt.NDArray[np.int64]:
    """Code (0-255) -> bin: the 58 codes with at most two 0/1 transitions around the circle get
    bins 0-57 in increasing code order, every other code bin 58."""
    table = np.full(256, NRI_BINS - 1, dtype=np.int64)
    nxt = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            table[code], nxt = nxt, nxt + 1
    return table


_UNIFORM = _uniform_table()
_OFFSETS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))
"""(dy, dx) of the 8 neighbours, counter-clockwise from the right, as multiples of the radius."""


def lbp_codes(plane: npt.NDArray[np.uint8], radius: int) -> npt.NDArray[np.int64]:
    """8-neighbour LBP codes (0-255) of the pixels at least ``radius`` from the border: bit i is
    set when neighbour i (:data:`_OFFSETS`) is >= the centre."""
    h, w = plane.shape
    r = radius
    centre = plane[r : h - r, r : w - r]
    codes = np.zeros(centre.shape, dtype=np.int64)
    for bit, (dy, dx) in enumerate(_OFFSETS):
        neighbour = plane[r + dy * r : h - r + dy * r, r + dx * r : w - r + dx * r]
        codes |= (neighbour >= centre).astype(np.int64) << bit
    return codes


def spectrum_bands(patch: npt.NDArray[np.uint8], bands: int) -> npt.NDArray[np.float64]:
    """Share of the grey crop's spectral energy (DC removed) in ``bands`` radial bands."""
    grey = patch.astype(np.float64).mean(axis=2)
    grey -= grey.mean()
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey))) ** 2
    n = grey.shape[0]
    yy, xx = np.mgrid[:n, : grey.shape[1]]
    radius = np.hypot(yy - n / 2, xx - grey.shape[1] / 2) / (n / 2)
    index = np.minimum((radius * bands).astype(np.int64), bands - 1)
    energy = np.bincount(index.ravel(), weights=power.ravel(), minlength=bands)
    return np.asarray(energy / max(float(energy.sum()), 1e-12), dtype=np.float64)
