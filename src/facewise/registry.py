"""Names for backends, as used in settings, the CLI and the service: name -> "module:attr".

Backends are imported only when asked for. ``"a+b"`` names a cascade of detectors: ``b`` runs only
on images where ``a`` finds no face.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from facewise.analyzers.base import Analyzer
from facewise.detectors.base import Detector
from facewise.embedders.base import Embedder
from facewise.errors import UnknownName
from facewise.settings import Settings
from facewise.types import Detection, Image

DETECTORS = {
    "hog": "facewise.detectors.dlib_hog:HogDetector",
    "mmod": "facewise.detectors.dlib_mmod:MmodDetector",
    "mtcnn": "facewise.detectors.mtcnn:MtcnnDetector",
    "yunet": "facewise.detectors.yunet:YunetDetector",
}
ANALYZERS = {
    "age_gender": "facewise.analyzers.age_gender:AgeGenderAnalyzer",
    "expression": "facewise.analyzers.expression:ExpressionAnalyzer",
    "pose": "facewise.analyzers.pose:PoseAnalyzer",
    "quality": "facewise.analyzers.quality:QualityAnalyzer",
    "mesh": "facewise.analyzers.mesh:MeshAnalyzer",
    "liveness": "facewise.liveness:LivenessAnalyzer",
}
WHAT = {
    "age": "age_gender",
    "gender": "age_gender",
    "expression": "expression",
    "pose": "pose",
    "landmarks": "pose",
    "quality": "quality",
    "mesh": "mesh",
    "liveness": "liveness",
}
"""What ``analyze`` can be asked for, and the analyser that answers it."""
EMBEDDERS = {
    "dlib-resnet": "facewise.embedders.dlib_resnet:DlibResnetEmbedder",
    "facenet": "facewise.embedders.facenet:FacenetEmbedder",
}


def _build(kind: str, table: dict[str, str], name: str, settings: Settings) -> Any:
    if name not in table:
        raise UnknownName(f"unknown {kind} {name!r}; choose from: {', '.join(sorted(table))}")
    module, attr = table[name].split(":")
    cls = getattr(importlib.import_module(module), attr)
    accepted = inspect.signature(cls).parameters
    options = {
        "max_side": settings.max_side,
        "min_face": settings.min_face,
        "threads": settings.threads,
    }
    return cls(**{k: v for k, v in options.items() if k in accepted})


class CascadeDetector:
    """Runs each detector in turn and returns the first non-empty answer."""

    def __init__(self, detectors: list[Detector]) -> None:
        self.detectors = detectors
        self.name = "+".join(d.name for d in detectors)

    def detect(self, image: Image) -> list[Detection]:
        for detector in self.detectors:
            found = detector.detect(image)
            if found:
                return found
        return []


def create_detector(name: str, settings: Settings) -> Detector:
    parts = name.split("+")
    if len(parts) == 1:
        detector: Detector = _build("detector", DETECTORS, name, settings)
        return detector
    return CascadeDetector([_build("detector", DETECTORS, p, settings) for p in parts])


def create_embedder(name: str, settings: Settings) -> Embedder:
    """A bundled embedder by name, or ``onnx:FILE[?options]``: the user's ONNX model and its
    card (``facewise.embedders.onnx_file``)."""
    if name.startswith("onnx:"):
        from facewise.embedders.onnx_file import OnnxFileEmbedder

        return OnnxFileEmbedder(name, threads=settings.threads)
    if name not in EMBEDDERS:
        raise UnknownName(
            f"unknown embedding model {name!r}; choose from: {', '.join(sorted(EMBEDDERS))}, "
            "or onnx:FILE for your own ONNX model"
        )
    embedder: Embedder = _build("embedding model", EMBEDDERS, name, settings)
    return embedder


def create_analyzer(name: str, settings: Settings) -> Analyzer:
    analyzer: Analyzer = _build("analyser", ANALYZERS, name, settings)
    return analyzer


def detector_names() -> list[str]:
    return sorted(DETECTORS)


def embedder_names() -> list[str]:
    return sorted(EMBEDDERS)
