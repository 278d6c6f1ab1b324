"""dlib's ResNet-29 face descriptor (128-D, trained with a metric loss; CC0 weights).

Two runtimes give the same vectors from the same weights file: ``onnx`` (default) converts the
``.dat`` weights into an ONNX graph at first use (kept in the user's cache folder, checksummed,
so later processes skip the conversion) and runs it on onnxruntime, ~30x faster than ``dlib``,
the reference implementation (single-threaded, no BLAS in dlib-bin).
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from facewise import models
from facewise.align.base import Aligner
from facewise.align.dlib_chip import DlibChipAligner
from facewise.embedders.base import space_for
from facewise.lazy import Lazy
from facewise.types import EmbeddingSpace


class DlibResnetEmbedder:
    name = "dlib-resnet"
    detector = "hog+mtcnn"
    """HOG first (the boxes dlib's landmarks were trained on); MTCNN for the faces HOG misses."""

    def __init__(self, *, runtime: Literal["onnx", "dlib"] = "onnx", threads: int = 0) -> None:
        self.runtime = runtime
        self.threads = threads
        self.aligner: Aligner = DlibChipAligner(150, 0.25)
        self._model = Lazy(self._load)
        self._lock = threading.Lock()

    @property
    def space(self) -> EmbeddingSpace:
        return space_for(self.name, 128, self.aligner)

    def _load(self) -> Any:
        weights = models.path(self.name)
        if self.runtime == "dlib":
            import dlib

            return dlib.face_recognition_model_v1(str(weights))
        import onnxruntime as ort

        from facewise.embedders.dlib_onnx import converted

        graph = converted(weights, sha256=models.info(self.name).sha256)  # verified by path()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def vectors(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        model = self._model.get()
        if self.runtime == "dlib":
            with self._lock:  # a dlib DNN keeps its activations: one call at a time
                out = model.compute_face_descriptor(list(crops))
            return np.array([np.asarray(v) for v in out], dtype=np.float32).reshape(-1, 128)
        chips = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
        result: npt.NDArray[np.float32] = model.run(None, {"chips": chips})[0]
        return result
