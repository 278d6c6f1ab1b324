"""Covering a face: pixelate, blur or a solid fill, with the strength scaled to the face's size.

The covered region is the face box grown by :data:`MARGIN` on every side (hair, ears and chin
fall outside a detector's box). Pixelation keeps :data:`BLOCKS` blocks across the face whatever
its size; the Gaussian blur's sigma is a fixed fraction of the face width; so a large face is
covered as thoroughly as a small one.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from facewise.types import BBox, Image

Method = Literal["pixelate", "blur", "solid"]
METHODS: tuple[Method, ...] = ("pixelate", "blur", "solid")
MARGIN = 0.25
"""Growth of the box on each side, as a fraction of its width/height."""
BLOCKS = 6
"""Pixelation blocks across the face's width."""
SIGMA = 0.22
"""Gaussian sigma as a fraction of the face's width."""


def region(box: BBox, shape: tuple[int, ...], margin: float = MARGIN) -> tuple[int, int, int, int]:
    """The covered rectangle (x1, y1, x2, y2), integers clipped to the image."""
    h, w = shape[:2]
    mx, my = box.width * margin, box.height * margin
    x1 = int(np.floor(max(0.0, box.x1 - mx)))
    y1 = int(np.floor(max(0.0, box.y1 - my)))
    x2 = int(np.ceil(min(float(w), box.x2 + mx)))
    y2 = int(np.ceil(min(float(h), box.y2 + my)))
    return x1, y1, x2, y2


def cover(image: Image, box: BBox, method: Method = "pixelate") -> tuple[int, int, int, int]:
    """Cover ``box`` in ``image`` in place; returns the rectangle covered."""
    x1, y1, x2, y2 = region(box, image.shape)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return x1, y1, x2, y2
    patch = image[y1:y2, x1:x2]
    face = max(box.width, 1.0)
    if method == "solid":
        patch[...] = 0
    elif method == "blur":
        sigma = max(2.0, SIGMA * face)
        k = int(2 * round(3 * sigma) + 1)
        blurred = cv2.GaussianBlur(patch, (k, k), sigma, borderType=cv2.BORDER_REPLICATE)
        # a second pass over a smaller version: no trace of an edge survives a large face
        patch[...] = cv2.blur(blurred, (max(3, k // 3), max(3, k // 3)))
    else:
        block = max(2.0, face / BLOCKS)
        small_w = max(1, round((x2 - x1) / block))
        small_h = max(1, round((y2 - y1) / block))
        small = cv2.resize(patch, (small_w, small_h), interpolation=cv2.INTER_AREA)
        patch[...] = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    return x1, y1, x2, y2


__all__ = ["BLOCKS", "MARGIN", "METHODS", "Method", "cover", "region"]
