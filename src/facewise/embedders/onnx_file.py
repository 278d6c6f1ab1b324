"""Any ONNX embedding model by path: ``onnx:FILE`` wherever a model is named (``--model``, the
``embedder`` setting, the service's configuration), described by a model card.

The card is a JSON object in ``FILE.json`` beside the model (``arcface_r50.onnx.json``), at
``card=PATH``, or given as options in the name itself, ``onnx:FILE?alignment=arcface-112&
mean=127.5&std=127.5`` (options win over the card's keys)::

    {
      "alignment": "arcface-112",   # arcface-112 | dlib-chip | margin-crop          (required)
      "input_size": 112,            # the crop's side; default: the model's, else the alignment's
      "colour": "rgb",              # rgb | bgr: the channel order the model was trained on
      "mean": 127.5, "std": 127.5,  # one value or three (in the model's channel order); 0 and 1
      "layout": "nchw",             # nchw | nhwc
      "input": "data",              # input name; default: the model's only input
      "output": "fc1",              # output name; default: its first output
      "detector": "mtcnn",          # default: mtcnn; hog+mtcnn for dlib-chip
      "padding": 0.25,              # dlib-chip only
      "margin": 0.15,               # margin-crop only: total margin as a share of the box
      "name": "arcface-r50",        # the space's model is "onnx:<name>"; default: the file's stem
      "licence": "...", "training_data": "..."   # free text, shown by `facewise models`
    }

The model takes float32 crops ``(x - mean) / std`` and returns ``(N, D)`` (or ``(N, D, 1, 1)``)
descriptors; facewise L2-normalises them. Its space records the file's sha256, its dimension,
and the alignment with the preprocessing, so vectors of another file, or of the same file read
differently, never meet. A missing file, a bad card, or a model whose input or output disagrees
with the card is a :class:`ModelError` (exit 6) that says which.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.align.base import Aligner
from facewise.errors import ModelError
from facewise.lazy import Lazy
from facewise.types import EmbeddingSpace

PREFIX = "onnx:"
ALIGNMENTS = {"arcface-112": 112, "dlib-chip": 150, "margin-crop": 160}
"""Alignment name -> its default crop side."""
DEFAULT_DETECTOR = {"arcface-112": "mtcnn", "dlib-chip": "hog+mtcnn", "margin-crop": "mtcnn"}
FIVE_POINT_DETECTORS = ("mtcnn", "yunet")
"""The detectors whose landmarks are the "mtcnn5" points the ArcFace transform uses."""
KEYS = (
    "alignment",
    "input_size",
    "colour",
    "color",
    "mean",
    "std",
    "layout",
    "input",
    "output",
    "detector",
    "padding",
    "margin",
    "name",
    "licence",
    "license",
    "training_data",
    "card",
)


def is_spec(name: str) -> bool:
    return name.startswith(PREFIX)


@dataclass(frozen=True, slots=True)
class ModelCard:
    """How to feed one ONNX embedding model (see the module's docstring for the keys)."""

    alignment: str
    input_size: int | None
    colour: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    layout: str
    input: str | None
    output: str | None
    detector: str
    padding: float
    margin: float
    name: str
    licence: str
    training_data: str
    source: str
    """Where the card came from (a file, options, or both), for messages."""

    @classmethod
    def parse(cls, data: dict[str, Any], *, model: Path, source: str) -> ModelCard:
        def bad(why: str) -> ModelError:
            return ModelError(f"model card of {model} ({source}): {why}")

        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            raise bad(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS[:-1])}")
        alignment = str(data.get("alignment", ""))
        if alignment not in ALIGNMENTS:
            raise bad(f"'alignment' must be one of {', '.join(ALIGNMENTS)}, got {alignment!r}")
        colour = str(data.get("colour", data.get("color", "rgb"))).lower()
        if colour not in ("rgb", "bgr"):
            raise bad(f"'colour' must be rgb or bgr, got {colour!r}")
        layout = str(data.get("layout", "nchw")).lower()
        if layout not in ("nchw", "nhwc"):
            raise bad(f"'layout' must be nchw or nhwc, got {layout!r}")
        detector = str(data.get("detector", DEFAULT_DETECTOR[alignment]))
        if alignment == "arcface-112" and not set(detector.split("+")) <= set(FIVE_POINT_DETECTORS):
            raise bad(
                f"arcface-112 needs eye, nose and mouth landmarks: detector must be one of "
                f"{', '.join(FIVE_POINT_DETECTORS)} (or a cascade of them), got {detector!r}"
            )
        size = data.get("input_size")
        try:
            side = None if size is None else int(size)
            padding = float(data.get("padding", 0.25))
            margin = float(data.get("margin", 0.15))
            mean, std = _triple(data.get("mean", 0.0)), _triple(data.get("std", 1.0))
        except (TypeError, ValueError) as exc:
            raise bad(str(exc)) from None
        if side is not None and not 16 <= side <= 1024:
            raise bad(f"'input_size' must be 16 to 1024 pixels, got {side}")
        if min(std) <= 0:
            raise bad(f"'std' must be positive, got {list(std)}")
        if not 0 <= padding <= 2 or not 0 <= margin <= 2:
            raise bad("'padding' and 'margin' must be between 0 and 2")
        name = str(data.get("name") or model.stem)
        return cls(
            alignment=alignment,
            input_size=side,
            colour=colour,
            mean=mean,
            std=std,
            layout=layout,
            input=None if data.get("input") is None else str(data["input"]),
            output=None if data.get("output") is None else str(data["output"]),
            detector=detector,
            padding=padding,
            margin=margin,
            name=name,
            licence=str(data.get("licence", data.get("license", ""))),
            training_data=str(data.get("training_data", "")),
            source=source,
        )


def _triple(value: Any) -> tuple[float, float, float]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if isinstance(value, int | float):
        return (float(value),) * 3
    items = [float(v) for v in value]
    if len(items) == 1:
        items *= 3
    if len(items) != 3:
        raise ValueError(f"mean and std take one value or three, got {len(items)}")
    return (items[0], items[1], items[2])


def parse_spec(spec: str) -> tuple[Path, dict[str, str]]:
    """``onnx:FILE[?key=value&...]`` -> the file and its options (a file whose own name has a
    ``?`` is taken whole)."""
    rest = spec[len(PREFIX) :] if is_spec(spec) else spec
    path, _, query = rest.partition("?")
    if query and Path(rest).is_file():
        path, query = rest, ""
    if not path:
        raise ModelError("onnx: needs a file: --model onnx:/path/to/model.onnx")
    try:
        options = dict(urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise ModelError(f"cannot read the options of {spec!r}: use ?key=value&key=value") from None
    return Path(path).expanduser(), options


def card_path(model: Path) -> Path:
    """Where the card of ``model`` is looked for: ``FILE.json`` beside it."""
    return model.with_name(model.name + ".json")


def load_card(model: Path, options: dict[str, str]) -> ModelCard:
    explicit = options.get("card")
    path = Path(explicit).expanduser() if explicit else card_path(model)
    data: dict[str, Any] = {}
    sources = []
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"model card {path}: not readable JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise ModelError(f"model card {path}: must be a JSON object")
        data.update(loaded)
        sources.append(str(path))
    elif explicit:
        raise ModelError(f"model card {path} not found")
    given = {k: v for k, v in options.items() if k != "card"}
    if given:
        data.update(given)
        sources.append("options")
    if not sources:
        raise ModelError(
            f"{model} has no model card: write {card_path(model).name} beside it (at least "
            '{"alignment": "arcface-112"}; see README, "Your own model") or give options, '
            f"onnx:{model}?alignment=arcface-112&mean=127.5&std=127.5"
        )
    return ModelCard.parse(data, model=model, source=" + ".join(sources))


def _aligner(card: ModelCard, side: int) -> tuple[Aligner, str]:
    """The aligner of ``card`` at ``side`` px and the name the space records for it."""
    if card.alignment == "arcface-112":
        from facewise.align.arcface import ArcfaceAligner

        arc = ArcfaceAligner(side)
        return arc, arc.name
    if card.alignment == "dlib-chip":
        from facewise.align.dlib_chip import DlibChipAligner

        return DlibChipAligner(side, card.padding), f"dlib-chip-{side}-{card.padding:g}"
    from facewise.align.margin_crop import MarginCropAligner

    return MarginCropAligner(side, card.margin), f"margin-crop-{side}-{card.margin:g}"


def _values(v: tuple[float, float, float]) -> str:
    return f"{v[0]:g}" if v[0] == v[1] == v[2] else ",".join(f"{x:g}" for x in v)


class OnnxFileEmbedder:
    """An embedder from a user's ONNX file and its card."""

    def __init__(self, spec: str, *, threads: int = 0) -> None:
        self.spec = spec
        self.threads = threads
        self.path, options = parse_spec(spec)
        if not self.path.is_file():
            raise ModelError(f"ONNX model {self.path} not found")
        self.card = load_card(self.path, options)
        self.name = PREFIX + self.card.name
        self.detector = self.card.detector
        self._session = Lazy(self._load)
        self._sha256 = Lazy(self._digest)
        self._lock = threading.Lock()
        self._meta: dict[str, Any] = {}
        side = self.card.input_size or ALIGNMENTS[self.card.alignment]
        if self.card.input_size is None:
            side = self._model_side() or side
        self.size = side
        self.aligner, self._alignment = _aligner(self.card, side)

    def _digest(self) -> str:
        from facewise.models import file_sha256

        return file_sha256(self.path)

    @property
    def sha256(self) -> str:
        return self._sha256.get()

    @property
    def dim(self) -> int:
        self._check(self._session.get())
        return int(self._meta["dim"])

    @property
    def space(self) -> EmbeddingSpace:
        c = self.card
        alignment = (
            f"{self._alignment} {c.colour} {c.layout} mean={_values(c.mean)} std={_values(c.std)}"
        )
        return EmbeddingSpace(
            model=self.name,
            weights_sha256=self.sha256,
            dim=self.dim,
            metric="cosine",
            alignment=alignment,
        )

    def _model_side(self) -> int | None:
        """The crop side fixed in the model's input shape, if it fixes one."""
        self._session.get()
        shape = self._meta["input_shape"]
        h, w = (shape[2], shape[3]) if self.card.layout == "nchw" else (shape[1], shape[2])
        return h if isinstance(h, int) and h == w else None

    def _load(self) -> Any:
        from facewise._onnx import cpu_session

        try:
            session = cpu_session(str(self.path), threads=self.threads)
        except Exception as exc:  # onnxruntime raises its own classes for a bad file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path} is not a loadable ONNX model: {first}") from None
        inputs, outputs = session.get_inputs(), session.get_outputs()
        card = self.card
        if card.input is not None:
            chosen = [i for i in inputs if i.name == card.input]
            if not chosen:
                names = ", ".join(i.name for i in inputs)
                raise self._bad(f"has no input {card.input!r} (its inputs: {names})")
            model_in = chosen[0]
        elif len(inputs) == 1:
            model_in = inputs[0]
        else:
            names = ", ".join(i.name for i in inputs)
            raise self._bad(f"has several inputs ({names}): name one with 'input'")
        if card.output is not None:
            if card.output not in [o.name for o in outputs]:
                names = ", ".join(o.name for o in outputs)
                raise self._bad(f"has no output {card.output!r} (its outputs: {names})")
            out_name = card.output
        else:
            out_name = outputs[0].name
        if model_in.type != "tensor(float)":
            raise self._bad(f"input {model_in.name!r} is {model_in.type}; facewise feeds float32")
        shape = list(model_in.shape)
        if len(shape) != 4:
            raise self._bad(f"input {model_in.name!r} has shape {shape}; expected 4 dimensions")
        channels = shape[1] if card.layout == "nchw" else shape[3]
        if isinstance(channels, int) and channels != 3:
            raise self._bad(
                f"input {model_in.name!r} has shape {shape}: {channels} channels where layout "
                f"{card.layout} puts the 3 colours (is the layout right?)"
            )
        self._meta.update(input=model_in.name, output=out_name, input_shape=shape)
        self._meta["batch"] = shape[0] if isinstance(shape[0], int) else None
        return session

    def _bad(self, why: str) -> ModelError:
        return ModelError(f"ONNX model {self.path} {why} (card: {self.card.source})")

    def _check(self, session: Any) -> None:
        """Run one blank crop through the model once: the input size and the output's shape
        must agree with the card."""
        with self._lock:
            if "dim" not in self._meta:
                self._probe(session)

    def _probe(self, session: Any) -> None:
        shape = self._meta["input_shape"]
        expected = (
            [3, self.size, self.size] if self.card.layout == "nchw" else [self.size, self.size, 3]
        )
        if any(isinstance(d, int) and d != e for d, e in zip(shape[1:], expected, strict=True)):
            raise self._bad(
                f"takes input {shape}, but the card gives {self.size} px crops "
                f"({self.card.layout}): set 'input_size' to the model's"
            )
        n = self._meta["batch"] or 1
        out = self._run_raw(session, np.zeros((n, *expected), dtype=np.float32))
        if out.ndim == 4 and out.shape[2:] == (1, 1):
            out = out.reshape(out.shape[:2])
        if out.ndim != 2 or out.shape[0] != n or out.shape[1] < 2:
            raise self._bad(
                f"output {self._meta['output']!r} has shape {list(out.shape)} for one crop; "
                "an embedding model gives (N, D)"
            )
        self._meta["dim"] = int(out.shape[1])

    def _run_raw(self, session: Any, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        try:
            result = session.run([self._meta["output"]], {self._meta["input"]: batch})[0]
        except Exception as exc:  # a shape the graph cannot take: say so, no traceback
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise self._bad(f"cannot run on {list(batch.shape)} input: {first}") from None
        return np.asarray(result, dtype=np.float32)

    def preprocess(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Aligned crops (N, S, S, 3) uint8 RGB -> the model's float32 input."""
        x = crops.astype(np.float32)
        if self.card.colour == "bgr":
            x = x[..., ::-1]
        mean = np.asarray(self.card.mean, dtype=np.float32)
        std = np.asarray(self.card.std, dtype=np.float32)
        x = np.divide(np.subtract(x, mean, dtype=np.float32), std, dtype=np.float32)
        if self.card.layout == "nchw":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.float32)

    def vectors(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        session = self._session.get()
        self._check(session)
        x = self.preprocess(crops)
        step = self._meta["batch"]
        if step is None or step == len(x):
            out = self._run_raw(session, x).reshape(len(x), -1)
        else:  # a graph with a fixed batch size: feed it that many at a time, the last padded
            parts = []
            for i in range(0, len(x), step):
                chunk = x[i : i + step]
                pad = np.zeros((step - len(chunk), *x.shape[1:]), np.float32)
                parts.append(self._run_raw(session, np.concatenate([chunk, pad])).reshape(step, -1))
            out = np.concatenate(parts)[: len(x)] if parts else np.zeros((0, self.dim), np.float32)
        return np.ascontiguousarray(out, dtype=np.float32)


__all__ = ["ModelCard", "OnnxFileEmbedder", "card_path", "is_spec", "load_card", "parse_spec"]
