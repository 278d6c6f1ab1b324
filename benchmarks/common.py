"""Shared by the benchmark scripts: where the data is, the systems compared, result files."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEWISE_SHARED", ROOT.parent / "shared"))
LFW = SHARED / "datasets" / "identity" / "lfw_gray"
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "benchmarks" / ".cache"

Represent = Callable[[str], "np.ndarray | None"]
"""An image path in, one descriptor (the largest face) out, or None when no face is found."""


def lfw_pairs() -> list[dict[str, str]]:
    if not (LFW / "pairs.csv").is_file():
        sys.exit(f"LFW not found at {LFW} (set FACEWISE_SHARED)")
    with (LFW / "pairs.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def facewise_system(detector: str, embedder: str, flip: bool | None, threads: int = 1) -> Represent:
    from facewise import Engine, load_settings

    engine = Engine(load_settings(threads=threads), detector=detector, embedder=embedder, flip=flip)

    def represent(path: str) -> np.ndarray | None:
        faces = engine.embed(path, largest=True)
        return faces[0].embedding.vector if faces else None  # type: ignore[union-attr]

    return represent


def peer_system() -> Represent:
    """face_recognition 1.3.0 as its README uses it: HOG with one upsample, 5-point landmarks,
    the dlib ResNet; the largest face when there are several (the same rule as facewise)."""
    import face_recognition

    def represent(path: str) -> np.ndarray | None:
        image = face_recognition.load_image_file(path)
        boxes = face_recognition.face_locations(image)
        if not boxes:
            return None
        top, right, bottom, left = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        return np.asarray(
            face_recognition.face_encodings(image, [(top, right, bottom, left)])[0],
            dtype=np.float32,
        )

    return represent


def peer_available() -> bool:
    try:
        import face_recognition  # noqa: F401
    except ImportError:
        return False
    return True


SYSTEMS: dict[str, Callable[[], Represent]] = {
    "facewise default (dlib-resnet, hog+mtcnn, flip)": lambda: facewise_system(
        "auto", "dlib-resnet", None
    ),
    "facewise dlib-resnet hog": lambda: facewise_system("hog", "dlib-resnet", False),
    "facewise dlib-resnet hog +flip": lambda: facewise_system("hog", "dlib-resnet", True),
    "facewise dlib-resnet hog+mtcnn": lambda: facewise_system("hog+mtcnn", "dlib-resnet", False),
    "facewise facenet": lambda: facewise_system("mtcnn", "facenet", False),
    "facewise facenet +flip": lambda: facewise_system("mtcnn", "facenet", True),
    "face_recognition 1.3.0": peer_system,
}
DEFAULT = next(iter(SYSTEMS))

_worker: Represent | None = None


def _init(name: str) -> None:
    global _worker
    _worker = SYSTEMS[name]()


def _run(path: str) -> np.ndarray | None:
    assert _worker is not None
    return _worker(path)


def embed_all(
    name: str, paths: list[str], workers: int, *, fresh: bool = False, tag: str = ""
) -> np.ndarray:
    """Descriptors (N, D) for ``paths`` with system ``name`` (NaN rows where no face was found),
    cached under benchmarks/.cache."""
    from concurrent.futures import ProcessPoolExecutor

    CACHE.mkdir(parents=True, exist_ok=True)
    cache = CACHE / (name.replace(" ", "_").replace("+", "plus") + tag + ".npz")
    if cache.is_file() and not fresh:
        data = np.load(cache, allow_pickle=False)
        if list(data["paths"]) == paths:
            return data["vectors"]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(name,)) as pool:
        out = list(pool.map(_run, paths, chunksize=16))
    dim = next(len(v) for v in out if v is not None)
    vectors = np.full((len(paths), dim), np.nan, dtype=np.float32)
    for i, v in enumerate(out):
        if v is not None:
            vectors[i] = v
    np.savez(cache, paths=np.array(paths), vectors=vectors)
    return vectors


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "date": dt.date.today().isoformat(),
    }


def write_result(stem: str, markdown: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    day = dt.date.today().isoformat()
    (RESULTS / f"{stem}-{day}.json").write_text(json.dumps(data, indent=2) + "\n")
    target = RESULTS / f"{stem}-{day}.md"
    target.write_text(markdown + "\n")
    return target
