"""The Engine: composes detector, aligner and embedder; the one object front ends talk to.

Models load lazily on first use and are cached on the Engine. An Engine is safe to share between
threads (each backend guards its own model), but not between processes: give each process its own.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from facewise import io
from facewise.analyzers.base import Analyzer
from facewise.compare import OperatingPoint, similarity, threshold
from facewise.detectors.base import Detector
from facewise.embedders.base import Embedder, embed_batch
from facewise.errors import InvalidInput, NoFaceFound
from facewise.io import ImageSource
from facewise.registry import WHAT, create_analyzer, create_detector, create_embedder
from facewise.settings import Settings, load_settings
from facewise.types import BBox, Detection, EmbeddingSpace, Face, Image, Verification

if TYPE_CHECKING:
    from facewise.liveness import Liveness
    from facewise.liveness.model import PadModel

DEFAULT_ANALYSIS = ("age", "gender", "expression", "pose", "quality")
"""What :meth:`Engine.analyze`, ``facewise analyze`` and ``POST /v1/analyze`` report by default
(``landmarks`` and ``mesh`` on request)."""


class Engine:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        detector: str | Detector | None = None,
        embedder: str | Embedder | None = None,
        flip: bool | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        from facewise.calibration import use_home

        use_home(self.settings.home)  # where `facewise calibrate` keeps its thresholds
        self.flip = self.settings.flip if flip is None else flip
        self._detector_spec = detector or self.settings.detector
        self._embedder_spec = embedder or self.settings.embedder
        self._detector: Detector | None = None
        self._embedder: Embedder | None = None
        self._analyzers: dict[str, Analyzer] = {}
        self._lock = threading.Lock()

    @property
    def detector(self) -> Detector:
        with self._lock:
            if self._detector is None:
                spec = self._detector_spec
                if spec == "auto":
                    spec = self._embedder_locked().detector
                self._detector = (
                    create_detector(spec, self.settings) if isinstance(spec, str) else spec
                )
            return self._detector

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            return self._embedder_locked()

    def _embedder_locked(self) -> Embedder:
        if self._embedder is None:
            spec = self._embedder_spec
            self._embedder = create_embedder(spec, self.settings) if isinstance(spec, str) else spec
        return self._embedder

    def choices(self) -> dict[str, Any]:
        """The engine's own detector, embedder and flip as settings values, which may differ
        from ``settings`` (``Engine(embedder="facenet")``): what an engine like this one in
        another process needs. A backend given as an object has no such value: it is left out."""
        out: dict[str, Any] = {"flip": self.flip}
        for key, spec in (("detector", self._detector_spec), ("embedder", self._embedder_spec)):
            if isinstance(spec, str):
                out[key] = spec
        return out

    @property
    def space(self) -> EmbeddingSpace:
        return dataclasses.replace(self.embedder.space, flip=self.flip)

    def load_image(self, source: ImageSource) -> Image:
        return io.load_image(source, settings=self.settings)

    def detect(self, source: ImageSource) -> list[Detection]:
        """Faces in one image, highest detector score first."""
        return self.detector.detect(self.load_image(source))

    def embed(self, source: ImageSource, *, largest: bool = False) -> list[Face]:
        """Detect, align and embed every face of one image (or only the largest one)."""
        image = self.load_image(source)
        found = self.detector.detect(image)
        if largest and found:
            found = [largest_detection(found)]
        return self.embed_detections(image, found)

    def represent(self, source: ImageSource, *, largest: bool = False) -> list[Face]:
        """Deprecated alias of :meth:`embed` (the CLI and REST have always said ``embed``)."""
        warnings.warn(
            "Engine.represent is deprecated; use Engine.embed", DeprecationWarning, stacklevel=2
        )
        return self.embed(source, largest=largest)

    def embed_detections(self, image: Image, detections: Sequence[Detection]) -> list[Face]:
        """Align and embed the given detections of ``image`` in one batch."""
        embedder = self.embedder
        aligned = [embedder.aligner.align(image, d) for d in detections]
        vectors = embed_batch(embedder, aligned, flip=self.flip)
        return [Face(a.detection, v) for a, v in zip(aligned, vectors, strict=True)]

    def analyze(
        self,
        source: ImageSource,
        *,
        what: Sequence[str] = DEFAULT_ANALYSIS,
        largest: bool = False,
        aligned: bool = False,
    ) -> list[Face]:
        """Attributes of every face (or the largest): any of age, gender, expression, pose,
        landmarks, quality. With ``aligned`` the whole image is taken as one face crop; without
        it, a small crop-shaped image (side <= 256 px, near-square) in which no face is detected
        is analysed whole too, flagged ``attributes["detected"] = False``."""
        unknown = sorted(set(what) - set(WHAT))
        if unknown:
            raise InvalidInput(
                f"cannot analyse {', '.join(unknown)}; choose from {', '.join(WHAT)}"
            )
        image = self.load_image(source)
        h, w = image.shape[:2]
        detected = not aligned
        found = [] if aligned else self.detector.detect(image)
        if not found and (aligned or _looks_like_crop(h, w)):
            found, detected = (
                [Detection(BBox(0.0, 0.0, float(w), float(h)), 1.0, None, "none")],
                False,
            )
        if largest and found:
            found = [largest_detection(found)]
        groups = dict.fromkeys(WHAT[item] for item in what)
        faces = []
        for det in found:
            attributes: dict[str, Any] = {"detected": detected}
            for group in groups:
                attributes.update(self.analyzer(group).analyze(image, det))
            faces.append(Face(det, None, attributes))
        return faces

    def analyzer(self, name: str) -> Analyzer:
        with self._lock:
            if name not in self._analyzers:
                self._analyzers[name] = create_analyzer(name, self.settings)
            return self._analyzers[name]

    def liveness(
        self, source: ImageSource, *, largest: bool = False, model: PadModel | None = None
    ) -> list[Liveness]:
        """The passive liveness of every face (or the largest) of one image: the bundled PAD
        model unless ``model`` is given. No face gives an empty list."""
        from facewise.liveness import check

        image = self.load_image(source)
        found = self.detector.detect(image)
        if largest and found:
            found = [largest_detection(found)]
        return check(image, found, model)

    def largest_face(self, source: ImageSource, *, label: str = "image") -> Face:
        faces = self.embed(source, largest=True)
        if not faces:
            raise NoFaceFound(f"no face found in {label}")
        return faces[0]

    def verify(
        self, a: ImageSource, b: ImageSource, *, operating_point: OperatingPoint = "fmr"
    ) -> Verification:
        """Is the largest face in ``a`` the same person as the largest face in ``b``?"""
        face_a = self.largest_face(a, label=_label(a, "the first image"))
        face_b = self.largest_face(b, label=_label(b, "the second image"))
        return self.verify_faces(face_a, face_b, operating_point=operating_point)

    def verify_faces(
        self, face_a: Face, face_b: Face, *, operating_point: OperatingPoint = "fmr"
    ) -> Verification:
        assert face_a.embedding is not None and face_b.embedding is not None
        score = similarity(face_a.embedding, face_b.embedding)
        limit = threshold(face_a.embedding.space, operating_point)
        from facewise.calibration import fmr_at

        return Verification(
            verified=score >= limit,
            score=score,
            threshold=limit,
            operating_point=operating_point,
            metric="cosine",
            model=face_a.embedding.space.model,
            face_a=face_a,
            face_b=face_b,
            fmr=fmr_at(face_a.embedding.space, score),
        )


def largest_detection(found: Sequence[Detection]) -> Detection:
    """The detection with the largest box (the first of equals)."""
    return max(found, key=lambda d: d.bbox.area)


def _looks_like_crop(height: int, width: int) -> bool:
    """A small, near-square image: plausibly a tight face crop (FER 48 px, UTKFace 200 px)."""
    return max(height, width) <= 256 and 0.75 <= width / height <= 1.33


def _label(source: ImageSource, fallback: str) -> str:
    return os.fspath(source) if isinstance(source, str | os.PathLike) else fallback
