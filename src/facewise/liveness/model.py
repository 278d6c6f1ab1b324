"""PAD models: the bundled linear model (plain numbers in a JSON file, evaluated in numpy) and a
user's own ONNX model by path. Both score a face as the probability that it is live."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput, ModelError
from facewise.liveness.features import FeatureConfig, crop, features
from facewise.types import Detection, Image

BUNDLED = "liveness-nuaa-lbp"
"""The bundled model's name in :data:`facewise.models.CATALOG`."""


class PadModel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def threshold(self) -> float:
        """Faces scoring ``>= threshold`` are judged live."""
        ...

    def scores(self, image: Image, detections: list[Detection]) -> list[float]:
        """The live probability in [0, 1] of each detection's face."""
        ...


def logit(p: float) -> float:
    """log(p / (1 - p)), clipped to +-20 (p of exactly 0 or 1)."""
    q = min(max(p, 1e-9), 1.0 - 1e-9)
    return max(-20.0, min(20.0, math.log(q / (1.0 - q))))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True, eq=False)
class LinearPadModel:
    """Logistic regression over :func:`facewise.liveness.features.features`, standardised by
    ``mean``/``scale``: live probability = sigmoid(((x - mean) / scale) . coef + intercept)."""

    name: str
    config: FeatureConfig
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    coef: npt.NDArray[np.float64]
    intercept: float
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.config.length
        if not (self.mean.shape == self.scale.shape == self.coef.shape == (n,)):
            raise ModelError(f"PAD model {self.name!r}: weights do not match {n} features")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearPadModel:
        try:
            return cls(
                name=str(data["name"]),
                config=FeatureConfig.from_dict(data["features"]),
                mean=np.asarray(data["mean"], dtype=np.float64),
                scale=np.asarray(data["scale"], dtype=np.float64),
                coef=np.asarray(data["coef"], dtype=np.float64),
                intercept=float(data["intercept"]),
                threshold=float(data["threshold"]),
                meta=dict(data.get("meta", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"PAD model file is malformed: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "features": self.config.as_dict(),
            "threshold": self.threshold,
            "intercept": self.intercept,
            "coef": [float(f"{v:.6g}") for v in self.coef],
            "mean": [float(f"{v:.6g}") for v in self.mean],
            "scale": [float(f"{v:.6g}") for v in self.scale],
            "meta": self.meta,
        }

    @classmethod
    def load(cls, path: Path | str) -> LinearPadModel:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read PAD model {path}: {exc}") from None
        return cls.from_dict(data)

    def logits(self, feats: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """(N,) logits of (N, D) feature rows."""
        x = (np.atleast_2d(feats) - self.mean) / self.scale
        return np.asarray(x @ self.coef + self.intercept, dtype=np.float64)

    def scores(self, image: Image, detections: list[Detection]) -> list[float]:
        if not detections:
            return []
        rows = np.stack(
            [features(crop(image, d.bbox, self.config), self.config) for d in detections]
        )
        return [sigmoid(float(z)) for z in self.logits(rows)]


_bundled: list[LinearPadModel] = []
_lock = threading.Lock()


def bundled() -> LinearPadModel:
    """The bundled model (its file's sha256 checked once per process)."""
    from facewise import models

    with _lock:
        if not _bundled:
            _bundled.append(LinearPadModel.load(models.path(BUNDLED)))
        return _bundled[0]


@dataclass(frozen=True, slots=True)
class OnnxOptions:
    """How a user's ONNX PAD model wants its input and gives its output.

    The face crop (the box grown by ``margin`` on each side) is resized to ``size`` x ``size``,
    put in ``channels`` order ("rgb" or "bgr"), scaled to [0, 1] when ``scale01`` (else 0-255),
    then ``(x - mean) / std`` per channel, NCHW float32 (the layout MiniFASNet exports use, with
    bgr, no 0-1 scaling, mean 0, std 1). Output: one value per face (a live probability, or a
    logit when outside [0, 1]) or one row of class logits/probabilities, softmaxed when they do
    not sum to 1, of which column ``live_index`` is live."""

    size: int = 80
    margin: float = 0.2
    channels: str = "bgr"
    scale01: bool = False
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    live_index: int = 1
    threshold: float = 0.5


class OnnxPadModel:
    """A user's ONNX PAD model (for example an exported MiniFASNet), run with onnxruntime."""

    def __init__(self, path: Path | str, options: OnnxOptions | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InvalidInput(f"PAD model {self.path} is not a file")
        self.options = options or OnnxOptions()
        if self.options.channels not in ("rgb", "bgr"):
            raise InvalidInput("--pad-channels must be rgb or bgr")
        self.name = f"onnx:{self.path.name}"
        self.threshold = self.options.threshold
        self._config = FeatureConfig(size=self.options.size, margin=self.options.margin)
        self._lock = threading.Lock()
        self._session: Any = None

    def _run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                try:
                    self._session = ort.InferenceSession(
                        str(self.path), providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # onnxruntime raises its own types
                    raise ModelError(f"cannot load PAD model {self.path.name}: {exc}") from None
            name = self._session.get_inputs()[0].name
            out = self._session.run(None, {name: batch})[0]
        return np.asarray(out, dtype=np.float64).reshape(len(batch), -1)

    def scores(self, image: Image, detections: list[Detection]) -> list[float]:
        if not detections:
            return []
        o = self.options
        crops = np.stack([crop(image, d.bbox, self._config) for d in detections]).astype(np.float64)
        if o.channels == "bgr":
            crops = crops[..., ::-1]
        if o.scale01:
            crops = crops / 255.0
        crops = (crops - np.asarray(o.mean, np.float64)) / np.asarray(o.std, np.float64)
        out = self._run(np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32))
        return [self._probability(row) for row in out]

    def _probability(self, row: npt.NDArray[np.float64]) -> float:
        if row.size == 1:
            v = float(row[0])
            return v if 0.0 <= v <= 1.0 else sigmoid(v)
        if not 0 <= self.options.live_index < row.size:
            raise InvalidInput(
                f"--pad-live-index {self.options.live_index} is outside the model's {row.size} "
                "outputs"
            )
        if np.all(row >= 0) and abs(float(row.sum()) - 1.0) < 1e-3:
            p = row
        else:
            e = np.exp(row - row.max())
            p = e / e.sum()
        return float(p[self.options.live_index])
