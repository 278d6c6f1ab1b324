"""Embeddings of a dataset's images, computed once per pipeline and cached on disk.

A *pipeline* is a detector, an embedder and the flip setting; it produces one vector per image (the
largest face, as :meth:`facewise.Engine.represent` with ``largest=True``), or a failure with its
reason (no face, unreadable file). Results are cached under ``<cache>/<key>/`` where the key hashes
the dataset root, the detector, the :class:`~facewise.types.EmbeddingSpace` (model, weights sha256,
dimension, alignment, flip), the detection settings and the degradation (robustness runs); each
image is stored with its relative path, size and modification time, and recomputed when either
changes. Results are written in chunks as they arrive, so an interrupted run keeps what it computed
and the next run resumes. Pipelines sharing a detector share its detections (one pass per image).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from facewise.engine import largest_detection
from facewise.errors import FacewiseError, UnknownName
from facewise.settings import Settings, load_settings
from facewise.types import EmbeddingSpace, Image

log = logging.getLogger(__name__)

CACHE_VERSION = 1
CHUNK = 256
Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while images are embedded."""


class Degradation(Protocol):
    """Something done to an image before detection (see :mod:`facewise.evaluate.robustness`)."""

    @property
    def key(self) -> str: ...

    def apply(self, image: Image, face_width: float | None, seed: int) -> Image: ...


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A detector (a name or a cascade "a+b"), an embedding model and flip fusion on or off."""

    detector: str
    embedder: str
    flip: bool

    @property
    def label(self) -> str:
        return f"{self.embedder} / {self.detector} / {'flip' if self.flip else 'no flip'}"

    def as_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "embedder": self.embedder, "flip": self.flip}

    def engine(self, settings: Settings) -> Any:
        from facewise.engine import Engine

        return Engine(settings, detector=self.detector, embedder=self.embedder, flip=self.flip)


def resolve_pipeline(
    *,
    detector: str | None = None,
    embedder: str | None = None,
    flip: bool | None = None,
    settings: Settings | None = None,
) -> Pipeline:
    """The pipeline the settings give, with these overrides; "auto" resolves to the detector the
    embedder was trained with. Unknown names raise :class:`UnknownName`."""
    from facewise.registry import DETECTORS, EMBEDDERS, create_embedder

    settings = settings or load_settings()
    model = embedder or settings.embedder
    if model not in EMBEDDERS and not model.startswith("onnx:"):
        raise UnknownName(
            f"unknown embedding model {model!r}; choose from: {', '.join(EMBEDDERS)}, "
            "or onnx:FILE for your own ONNX model"
        )
    det = detector or settings.detector
    if det == "auto":
        det = create_embedder(model, settings).detector
    for part in det.split("+"):
        if part not in DETECTORS:
            raise UnknownName(f"unknown detector {part!r}; choose from: {', '.join(DETECTORS)}")
    return Pipeline(det, model, settings.flip if flip is None else flip)


@dataclass(frozen=True, slots=True)
class Embedded:
    """One pipeline's vectors for a list of images.

    ``vectors``: float32 (N, D), L2-normalised; a row of NaN where the image failed.
    ``boxes``: float32 (N, 4) face box x1, y1, x2, y2 in pixels (NaN on failure).
    ``reasons``: "" for success, else why the image has no vector.
    """

    pipeline: Pipeline
    space: EmbeddingSpace
    paths: list[str]
    vectors: npt.NDArray[np.float32]
    boxes: npt.NDArray[np.float32]
    reasons: list[str]
    computed: int = 0
    seconds: float = 0.0
    index: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        return has_vector(self.vectors)

    def rows(self, paths: Sequence[str]) -> npt.NDArray[np.int64]:
        lookup = self.index or {p: i for i, p in enumerate(self.paths)}
        return np.array([lookup[p] for p in paths], dtype=np.int64)

    def failures(self) -> list[dict[str, str]]:
        return [
            {"path": p, "reason": r} for p, r in zip(self.paths, self.reasons, strict=True) if r
        ]


def has_vector(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """Rows (N, D) that hold a vector (no NaN): the images where a face was embedded."""
    return np.asarray(~np.isnan(vectors).any(axis=1), dtype=np.bool_)


# --- the on-disk cache ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    size: int
    mtime_ns: int
    vector: npt.NDArray[np.float32]
    box: npt.NDArray[np.float32]
    reason: str


_FIELDS = ("paths", "sizes", "mtimes", "vectors", "boxes", "reasons")


class EmbeddingCache:
    """One pipeline's cached results for one dataset root (a folder of chunk files)."""

    def __init__(self, base: Path, key: dict[str, Any]) -> None:
        text = json.dumps(key, sort_keys=True)
        self.key = key
        self.folder = base / hashlib.sha256(text.encode()).hexdigest()[:24]

    def load(self) -> dict[str, _Entry]:
        out: dict[str, _Entry] = {}
        if not self.folder.is_dir():
            return out
        for chunk in sorted(self.folder.glob("chunk-*.npz")):
            try:
                with np.load(chunk, allow_pickle=False) as data:
                    arrays = {k: data[k] for k in _FIELDS}  # each read once, not per row
                for path, size, mtime, vector, box, reason in zip(
                    arrays["paths"].tolist(),
                    arrays["sizes"].tolist(),
                    arrays["mtimes"].tolist(),
                    arrays["vectors"],
                    arrays["boxes"],
                    arrays["reasons"].tolist(),
                    strict=True,
                ):
                    out[path] = _Entry(size, mtime, vector, box, reason)
            except (OSError, ValueError, KeyError) as exc:  # a torn or foreign file: recompute
                log.warning("ignoring unreadable cache chunk %s: %s", chunk, exc)
        return out

    def append(self, items: list[tuple[str, _Entry]]) -> None:
        if not items:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "key.json"
        if not meta.is_file():
            meta.write_text(json.dumps(self.key, indent=2, sort_keys=True) + "\n")
        name = f"chunk-{time.time_ns():020d}-{os.getpid()}"
        tmp = self.folder / f"{name}.tmp.npz"
        np.savez(
            tmp,
            paths=np.array([p for p, _ in items]),
            sizes=np.array([e.size for _, e in items], dtype=np.int64),
            mtimes=np.array([e.mtime_ns for _, e in items], dtype=np.int64),
            vectors=np.stack([e.vector for _, e in items]).astype(np.float32),
            boxes=np.stack([e.box for _, e in items]).astype(np.float32),
            reasons=np.array([e.reason for _, e in items]),
        )
        os.replace(tmp, self.folder / f"{name}.npz")

    def compact(self, entries: dict[str, _Entry]) -> None:
        """Rewrite many chunk files as one (after a complete run)."""
        chunks = sorted(self.folder.glob("chunk-*.npz"))
        if len(chunks) <= 1:
            return
        self.append(sorted(entries.items()))
        for chunk in chunks:
            chunk.unlink(missing_ok=True)


def default_cache_dir(settings: Settings | None = None) -> Path:
    return (settings or load_settings()).home / "eval-cache"


# --- the work, in worker processes or in-process --------------------------------------------------

_engines: list[Any] | None = None


def engines_for(pipelines: Sequence[Pipeline], settings: Settings) -> list[Any]:
    """Engines for the pipelines, sharing one detector and one embedder object per name (each
    model loads once per process)."""
    from facewise.engine import Engine
    from facewise.registry import create_detector, create_embedder

    detectors = {n: create_detector(n, settings) for n in {p.detector for p in pipelines}}
    embedders = {n: create_embedder(n, settings) for n in {p.embedder for p in pipelines}}
    return [
        Engine(
            settings, detector=detectors[p.detector], embedder=embedders[p.embedder], flip=p.flip
        )
        for p in pipelines
    ]


def _init(settings: Settings, pipelines: list[Pipeline]) -> None:
    global _engines
    _engines = engines_for(pipelines, settings)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


Answer = tuple[npt.NDArray[np.float32] | None, tuple[float, ...] | None, str]
"""One pipeline's result for one image: (vector, box, reason for failure or "")."""
Task = tuple[str, float | None, "Degradation | None", tuple[int, ...]]
"""(image path, clean face width, degradation, the pipelines that need this image)."""


def _task(args: Task) -> list[Answer | None]:
    """Embed one image with the pipelines that need it (None for the others); pipelines with
    the same detector share its detection."""
    assert _engines is not None
    path, face_width, degradation, needed = args
    out: list[Answer | None] = [None] * len(_engines)
    first = _engines[needed[0]]
    try:
        image = first.load_image(path)
        if degradation is not None:
            image = degradation.apply(image, face_width, _seed(path))
    except FacewiseError as exc:
        return [(None, None, exc.message) if k in needed else None for k in range(len(out))]
    except OSError as exc:
        reason = f"cannot read: {exc.strerror or exc}"
        return [(None, None, reason) if k in needed else None for k in range(len(out))]
    detections: dict[str, Any] = {}
    for k in needed:
        engine = _engines[k]
        name = engine.detector.name
        try:
            if name not in detections:
                found = engine.detector.detect(image)
                detections[name] = largest_detection(found) if found else None
            det = detections[name]
            if det is None:
                out[k] = (None, None, "no face found")
                continue
            [face] = engine.embed_detections(image, [det])
            b = face.bbox
            out[k] = (face.embedding.vector, (b.x1, b.y1, b.x2, b.y2), "")
        except FacewiseError as exc:
            out[k] = (None, None, exc.message)
    return out


def _seed(path: str) -> int:
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:4], "little")


def _run_tasks(
    settings: Settings,
    pipelines: list[Pipeline],
    tasks: list[Task],
    workers: int,
) -> Iterator[list[Answer | None]]:
    if workers <= 1 or len(tasks) < 8:
        _init(settings, pipelines)
        for task in tasks:
            yield _task(task)
        return
    import multiprocessing

    # one thread per worker (the pool is the parallelism); "fork" (where there is one) so that
    # a script calling this needs no ``if __name__ == "__main__"`` guard, as in gallery.batch
    one_thread = load_settings(**{**_settings_dict(settings), "threads": 1})
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        ),
        initializer=_init,
        initargs=(one_thread, pipelines),
    )
    try:
        yield from pool.map(_task, tasks, chunksize=4)
    finally:  # on an interrupt, drop the queued work instead of waiting for it
        pool.shutdown(wait=False, cancel_futures=True)


def _settings_dict(settings: Settings) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()}


def embed_images(
    root: Path | str,
    paths: Sequence[str],
    pipelines: Sequence[Pipeline],
    *,
    cache_dir: Path | str | None = None,
    settings: Settings | None = None,
    workers: int | None = None,
    degradation: Degradation | None = None,
    face_widths: dict[str, float] | None = None,
    progress: Progress | None = None,
    chunk: int = CHUNK,
) -> list[Embedded]:
    """Vectors of ``paths`` (relative to ``root``) for each pipeline, from the cache where it holds
    them (same file size and mtime), computed otherwise. With ``degradation``, each image is
    degraded first (``face_widths``: the clean face width per path, for degradations that need
    it); degraded results are cached separately."""
    start = time.perf_counter()
    settings = settings or load_settings()
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir(settings)
    root = Path(root)
    unique = sorted(set(paths))
    engines = [p.engine(settings) for p in pipelines]
    spaces = [e.space for e in engines]
    caches = [
        EmbeddingCache(
            base,
            {
                "version": CACHE_VERSION,
                "root": str(root.resolve()),
                "detector": p.detector,
                "space": space.as_dict(),
                "max_side": settings.max_side,
                "min_face": settings.min_face,
                "degradation": degradation.key if degradation is not None else None,
            },
        )
        for p, space in zip(pipelines, spaces, strict=True)
    ]
    known = [c.load() for c in caches]
    stamps = {p: _stamp(root / p) for p in unique}
    results: list[dict[str, _Entry]] = [{} for _ in pipelines]
    missing: dict[str, str] = {}
    todo: list[str] = []
    needs: dict[str, tuple[int, ...]] = {}
    for p in unique:
        stamp = stamps[p]
        if stamp is None:
            missing[p] = "missing file" if not (root / p).exists() else "cannot read file"
            continue
        hits = [k.get(p) for k in known]
        fresh = [h is not None and (h.size, h.mtime_ns) == stamp for h in hits]
        for r, h, ok in zip(results, hits, fresh, strict=True):
            if ok:
                assert h is not None
                r[p] = h
        if not all(fresh):
            todo.append(p)
            needs[p] = tuple(k for k, ok in enumerate(fresh) if not ok)
    dims = [space.dim for space in spaces]
    if todo:
        log.info(
            "embedding %d of %d images (%d cached)", len(todo), len(unique), len(unique) - len(todo)
        )
        tasks: list[Task] = [
            (str(root / p), (face_widths or {}).get(p), degradation, needs[p]) for p in todo
        ]
        buffers: list[list[tuple[str, _Entry]]] = [[] for _ in pipelines]

        def flush() -> None:
            for cache, buf in zip(caches, buffers, strict=True):
                cache.append(buf)
                buf.clear()

        done = 0
        try:
            answered = _run_tasks(settings, list(pipelines), tasks, workers or _workers())
            for path, answers in zip(todo, answered, strict=False):
                size, mtime = stamps[path] or (0, 0)
                for k, answer in enumerate(answers):
                    if answer is None:  # this pipeline had it cached
                        continue
                    vector, box, reason = answer
                    entry = _Entry(
                        size,
                        mtime,
                        vector if vector is not None else np.full(dims[k], np.nan, np.float32),
                        np.asarray(box if box is not None else (np.nan,) * 4, dtype=np.float32),
                        reason,
                    )
                    results[k][path] = entry
                    buffers[k].append((path, entry))
                done += 1
                if done % chunk == 0:
                    flush()
                if progress is not None:
                    progress(done, len(todo))
        finally:
            flush()
        for cache, entries, got in zip(caches, known, results, strict=True):
            entries.update(got)
            cache.compact(entries)
    elif progress is not None:
        progress(0, 0)
    seconds = time.perf_counter() - start
    out = []
    index = {p: i for i, p in enumerate(unique)}
    for k, (pipeline, space, dim, got) in enumerate(
        zip(pipelines, spaces, dims, results, strict=True)
    ):
        computed = sum(1 for p in todo if k in needs[p])
        vectors = np.full((len(unique), dim), np.nan, dtype=np.float32)
        boxes = np.full((len(unique), 4), np.nan, dtype=np.float32)
        reasons = []
        for i, p in enumerate(unique):
            if p in missing:
                reasons.append(missing[p])
                continue
            entry = got[p]
            vectors[i], boxes[i] = entry.vector, entry.box
            reasons.append(entry.reason)
        out.append(
            Embedded(pipeline, space, unique, vectors, boxes, reasons, computed, seconds, index)
        )
    return out


def _workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
