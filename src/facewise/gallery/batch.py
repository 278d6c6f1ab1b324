"""Enrolling a folder of people (one sub-folder per person), resumably, in parallel.

The per-image work (decode, detect, align, embed) is one function, :func:`embed_file`, run either
on a local process pool (default) or on Ray Data (``executor="ray"``). Only the parent process
writes to the gallery, in one transaction per person-batch, so a killed run loses at most the
batch in flight and a rerun skips every image already enrolled (same bytes, same person).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from facewise import io
from facewise.errors import FacewiseError
from facewise.gallery.gallery import Gallery
from facewise.gallery.records import NewSample

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff", ".pgm", ".ppm", ".bmp", ".webp"}
BATCH = 32
T = TypeVar("T")

_engine: Any = None
_engine_settings: dict[str, Any] | None = None


def worker_engine(settings: dict[str, Any]) -> Any:
    """The engine of this worker process for ``settings``, built on first use and again when
    the settings change (the caller's own engine when :func:`map_files` runs in this process).
    A worker forked after an earlier job inherits that job's engine: it is used only for the
    same settings."""
    global _engine, _engine_settings
    if _engine is None or _engine_settings != settings:
        from facewise.engine import Engine
        from facewise.settings import load_settings

        _engine = Engine(load_settings(**settings))
        _engine_settings = dict(settings)
    return _engine


def embed_file(settings: dict[str, Any], person: str, path: str) -> dict[str, Any]:
    """Decode, detect, align and embed the one face of an enrolment photo (runs in a worker)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return {"person": person, "path": path, "error": f"cannot read: {exc.strerror}"}
    return {"person": person, **embed_data(settings, data, path)}


def embed_data(settings: dict[str, Any], data: bytes, path: str) -> dict[str, Any]:
    """:func:`embed_file` for bytes already read (a Ray worker gets them from Ray Data)."""
    engine = worker_engine(settings)
    try:
        digest = io.image_sha256(data)
        image = engine.load_image(data)
        faces = engine.embed_detections(image, engine.detector.detect(image))
        if len(faces) != 1:
            reason = "no face found" if not faces else f"{len(faces)} faces in the photo"
            return {"path": path, "error": reason}
        face = faces[0]
        from facewise.gallery.gallery import face_quality

        return {
            "path": path,
            "sha256": digest,
            "vector": face.embedding.vector.tobytes(),
            "bbox": face.bbox.as_list(),
            "quality": face_quality(face),
        }
    except FacewiseError as exc:
        return {"path": path, "error": exc.message}


def expand_images(inputs: Iterable[str]) -> list[str]:
    """Files as given, and each folder's image files (recursively, sorted, hidden ones left
    out) as that folder joined with their relative path; a path that does not exist is kept,
    to be reported as that input's error."""
    out: list[str] = []
    for given in inputs:
        if not os.path.isdir(given):
            out.append(given)
            continue
        root = Path(given)
        found = sorted(
            p.relative_to(root)
            for p in root.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        out.extend(os.path.join(given, str(rel)) for rel in found)
    return out


def scan(folder: Path) -> list[tuple[str, Path]]:
    """(person, image path) for every image in each person's sub-folder, sorted."""
    items = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for img in sorted(sub.rglob("*")):
            if img.is_file() and img.suffix.lower() in IMAGE_SUFFIXES:
                items.append((sub.name, img))
    return items


def pool_map(
    fn: Callable[..., T], settings: dict[str, Any], items: list[tuple[Any, ...]], workers: int
) -> Iterator[T]:
    """``fn(settings, *item)`` for every item, in order, on ``workers`` local processes (each
    with its own engine, built from ``settings``); in this process when ``workers`` is 1."""
    if workers == 1 or len(items) < 2:
        for item in items:
            yield fn(settings, *item)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(fn, [settings] * len(items), *zip(*items, strict=True), chunksize=4)


def worker_settings(engine: Any) -> dict[str, Any]:
    """The engine's settings as plain values for worker processes (one thread each: the pool
    is the parallelism)."""
    settings = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(engine.settings).items()
    }
    settings.update(engine.choices())  # Engine(embedder=...) overrides its settings
    settings["threads"] = 1
    return settings


def faces_in_file(settings: dict[str, Any], path: str) -> tuple[str, list[Any]] | FacewiseError:
    """(sha256 of the file, every face with its embedding), or the error (runs in a worker)."""
    engine = worker_engine(settings)
    try:
        data = io.read_file(path, settings=engine.settings)
        return io.image_sha256(data), engine.embed(data)
    except FacewiseError as exc:
        return exc


def map_files(
    fn: Callable[[dict[str, Any], str], T], engine: Any, paths: list[str], *, workers: int = 1
) -> Iterator[T]:
    """``fn(settings, path)`` for each path, in order, on ``workers`` processes (each with an
    engine like ``engine``, got through :func:`worker_engine`); ``engine`` itself when
    ``workers`` is 1."""
    global _engine, _engine_settings
    settings = worker_settings(engine)
    if workers > 1:
        yield from pool_map(fn, settings, [(p,) for p in paths], workers)
        return
    saved = _engine, _engine_settings
    _engine, _engine_settings = engine, settings  # for this call only
    try:
        yield from pool_map(fn, settings, [(p,) for p in paths], workers)
    finally:
        _engine, _engine_settings = saved


def faces_in_files(
    engine: Any, paths: list[str], *, workers: int = 1
) -> Iterator[tuple[str, list[Any]] | FacewiseError]:
    """:func:`faces_in_file` for each path, in order."""
    yield from map_files(faces_in_file, engine, paths, workers=workers)


def _local(
    settings: dict[str, Any], todo: list[tuple[str, Path]], workers: int
) -> Iterator[dict[str, Any]]:
    return pool_map(embed_file, settings, [(p, str(path)) for p, path in todo], workers)


def _ray(
    settings: dict[str, Any],
    todo: list[tuple[str, Path]],
    workers: int,
    address: str | None = None,
    resources: Any = None,
    shared_storage: bool = False,
    location: Any = None,
) -> Iterator[dict[str, Any]]:
    """The photos on Ray (:mod:`facewise.gallery.cluster_exec`): a local one of ``workers``
    CPUs, or the cluster at ``address``; results in completion order."""
    from facewise.gallery import cluster_exec as cx

    person = {str(path): p for p, path in todo}
    with cx.connect(address, workers) as ray:
        if address and location is not None:
            cx.cluster_target_check(ray, location)
        for path, row in cx.map_photos(
            embed_data,
            list(person),
            settings,
            executor="ray",
            workers=workers,
            address=address,
            resources=resources or cx.Resources(),
            shared_storage=shared_storage,
        ):
            yield {"person": person[path], **row}


def enrol_folder(
    gallery: Gallery,
    folder: Path,
    *,
    consent: str,
    expires_at: str | None,
    executor: str = "local",
    workers: int | None = None,
    progress: bool = True,
    enrolled_by: str = "cli",
    address: str | None = None,
    resources: Any = None,
    shared_storage: bool = False,
) -> dict[str, Any]:
    """Enrol FOLDER's people. ``executor="ray"`` (implied by ``address``) runs the photos on
    Ray: a local one, or the cluster at ``address`` (``RAY_ADDRESS``, the ``ray_address``
    setting), each task asking for ``resources`` (:class:`~facewise.gallery.cluster_exec.
    Resources`); files the cluster's nodes do not share are read on this node and sent as
    bytes unless ``shared_storage``."""
    from facewise.gallery.cluster_exec import ray_address

    if address or executor == "ray":  # an address given means Ray; RAY_ADDRESS only for Ray
        executor = "ray"
        address = ray_address(address, getattr(gallery.engine.settings, "ray_address", ""))
    workers = workers or os.cpu_count() or 1
    items = scan(folder)
    todo, skipped = [], 0
    for person, path in items:
        try:
            digest = io.image_sha256(path.read_bytes())
        except OSError:
            digest = ""
        if digest and gallery.store.has_image(person, digest):
            skipped += 1
        else:
            todo.append((person, path))
    settings = worker_settings(gallery.engine)
    start = time.perf_counter()
    enrolled, failures = 0, []
    pending: dict[str, list[tuple[NewSample, str]]] = {}

    def flush(person: str) -> None:
        nonlocal enrolled
        batch = pending.pop(person, [])
        if batch:
            result = gallery.add_samples(
                person,
                [s for s, _ in batch],
                [],
                consent=consent,
                expires_at=expires_at,
                enrolled_by=enrolled_by,
            )
            enrolled += result.enrolled

    if executor == "ray":
        results = _ray(
            settings, todo, workers, address, resources, shared_storage, gallery.location
        )
    else:
        results = _local(settings, todo, workers)
    for row in _with_progress(results, len(todo), progress):
        if "error" in row:
            failures.append({"image": row["path"], "reason": row["error"]})
            continue
        sample = NewSample(
            np.frombuffer(row["vector"], dtype=np.float32).copy(),
            row["sha256"],
            row["path"],
            float(row["quality"]),
            tuple(row["bbox"]),
        )
        pending.setdefault(row["person"], []).append((sample, row["path"]))
        if len(pending[row["person"]]) >= BATCH:
            flush(row["person"])
    for person in list(pending):
        flush(person)
    seconds = time.perf_counter() - start
    return {
        "folder": str(folder),
        "people": len({p for p, _ in items}),
        "images": len(items),
        "enrolled": enrolled,
        "skipped": skipped,
        "failed": len(failures),
        "failures": failures[:100],
        "seconds": round(seconds, 2),
        "faces_per_second": enrolled / seconds if seconds > 0 else 0.0,
        "executor": executor,
        "workers": workers,
        "ray_address": address,
    }


def _with_progress(
    rows: Iterator[dict[str, Any]], total: int, show: bool
) -> Iterator[dict[str, Any]]:
    import sys

    if not show or total < 2 or not sys.stderr.isatty():
        yield from rows
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("enrolling", total=total)
        for row in rows:
            bar.advance(task)
            yield row
