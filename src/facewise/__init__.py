"""facewise: offline-first face recognition and face analysis.

The front door is a handful of functions (:mod:`facewise.api`) over a default engine::

    import facewise

    facewise.verify("a.jpg", "b.jpg").verified
    faces = facewise.embed("group.jpg")

:class:`Engine` composes the stages with your own settings; :class:`Gallery` enrols people and
identifies them (imported on first use: it brings the vector index with it).
"""

from typing import TYPE_CHECKING, Any

from facewise.api import analyze, detect, embed, similarity, verify
from facewise.engine import Engine
from facewise.errors import (
    ConfigError,
    EmbeddingSpaceMismatch,
    FacewiseError,
    GalleryUnavailable,
    ImageDecodeError,
    ImageTooLarge,
    InvalidInput,
    ModelError,
    NameTaken,
    NoFaceFound,
    PersonNotFound,
    UnknownName,
)
from facewise.io import ImageSource, load_image
from facewise.settings import Settings, load_settings
from facewise.types import (
    AlignedFace,
    BBox,
    Detection,
    Embedding,
    EmbeddingSpace,
    Face,
    Verification,
)

if TYPE_CHECKING:  # the real types for checkers; at run time they load on first use
    from facewise.gallery.gallery import Candidate, Decision, Gallery, Identification

__version__ = "0.1.0"

_LAZY = {"Candidate", "Decision", "Gallery", "Identification"}

__all__ = [
    "AlignedFace",
    "BBox",
    "Candidate",
    "ConfigError",
    "Decision",
    "Detection",
    "Embedding",
    "EmbeddingSpace",
    "EmbeddingSpaceMismatch",
    "Engine",
    "Face",
    "FacewiseError",
    "Gallery",
    "GalleryUnavailable",
    "Identification",
    "ImageDecodeError",
    "ImageSource",
    "ImageTooLarge",
    "InvalidInput",
    "ModelError",
    "NameTaken",
    "NoFaceFound",
    "PersonNotFound",
    "Settings",
    "UnknownName",
    "Verification",
    "__version__",
    "analyze",
    "detect",
    "embed",
    "load_image",
    "load_settings",
    "similarity",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from facewise.gallery import gallery

        return getattr(gallery, name)
    raise AttributeError(f"module 'facewise' has no attribute {name!r}")
