"""The ArcFace crop (InsightFace's ``norm_crop``): the similarity transform (rotation, uniform
scale, shift) that maps a face's five landmarks closest, in least squares, to the standard 112 x
112 template, then the warp. Needs "mtcnn5" landmarks (eye centres, nose tip, mouth corners:
MTCNN or YuNet boxes); other sizes scale the template."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput
from facewise.types import AlignedFace, Detection, Image

TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],  # the eye on the image's left
        [73.5318, 51.5014],  # the other eye
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # mouth corner on the image's left
        [70.7299, 92.2041],  # the other mouth corner
    ],
    dtype=np.float64,
)
"""InsightFace's ``arcface_dst``: where the five points sit in a 112 x 112 ArcFace crop."""


def similarity_transform(
    source: npt.NDArray[np.floating], target: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """The 2 x 3 similarity transform (no reflection, no shear) that maps the points ``source``
    (K, 2) to ``target`` (K, 2) with the least squared error (Umeyama's closed form)."""
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    cs, cd = src - mu_s, dst - mu_d
    var = float((cs**2).sum()) / len(src)
    if var <= 1e-12:
        raise InvalidInput("the face's landmarks coincide: cannot align it")
    cov = cd.T @ cs / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign)) / var
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


class ArcfaceAligner:
    """Five-point similarity alignment to the ArcFace template (112 px by default)."""

    def __init__(self, size: int = 112) -> None:
        self.size = size
        self.name = f"arcface-{size}"
        self.template = TEMPLATE_112 * (size / 112.0)

    def align(self, image: Image, detection: Detection) -> AlignedFace:
        marks = detection.landmarks
        if marks is None or detection.landmark_scheme != "mtcnn5":
            raise InvalidInput(
                f"{self.name} alignment needs eye, nose and mouth landmarks (scheme mtcnn5); "
                f"detector {detection.detector!r} gave {detection.landmark_scheme!r}: use "
                "--detector mtcnn or yunet"
            )
        transform = similarity_transform(np.asarray(marks, dtype=np.float64), self.template)
        pixels = cv2.warpAffine(
            np.ascontiguousarray(image),
            transform,
            (self.size, self.size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        return AlignedFace(np.ascontiguousarray(pixels), transform, detection, self.name)


__all__ = ["TEMPLATE_112", "ArcfaceAligner", "similarity_transform"]
