"""facewise: offline-first face recognition and face analysis."""

from facewise.engine import Engine
from facewise.errors import (
    EmbeddingSpaceMismatch,
    FacewiseError,
    ImageDecodeError,
    ImageTooLarge,
    InvalidInput,
    ModelError,
    NoFaceFound,
    UnknownName,
)
from facewise.io import load_image
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

__version__ = "0.1.0"

__all__ = [
    "AlignedFace",
    "BBox",
    "Detection",
    "Embedding",
    "EmbeddingSpace",
    "EmbeddingSpaceMismatch",
    "Engine",
    "Face",
    "FacewiseError",
    "ImageDecodeError",
    "ImageTooLarge",
    "InvalidInput",
    "ModelError",
    "NoFaceFound",
    "Settings",
    "UnknownName",
    "Verification",
    "__version__",
    "load_image",
    "load_settings",
]
