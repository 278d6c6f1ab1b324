"""Identify every photo of a folder tree into JSON lines, locally or on a Ray cluster.

Resumable by content: each line carries the photo's sha256; a rerun over the same output skips
every photo whose hash is already there (the workers hash, then skip, so a resumed run costs a
read per done photo, not a detection). Lines are written and flushed by the driver as results
arrive, so a killed run loses at most the lines in flight.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facewise import io
from facewise.errors import FacewiseError
from facewise.gallery.cluster_exec import (
    DEFAULT_RESOURCES,
    Resources,
    cluster_target_check,
    connect,
    map_photos,
)


def faces_task(
    settings: dict[str, Any], data: bytes, path: str, *, done: frozenset[str] = frozenset()
) -> tuple[str, Any] | FacewiseError:
    """(sha256, every face embedded), ``(sha256, None)`` when the hash is in ``done``, or the
    error (runs in a worker)."""
    from facewise.gallery.batch import worker_engine

    try:
        digest = io.image_sha256(data)
        if digest in done:
            return digest, None
        return digest, worker_engine(settings).embed(data)
    except FacewiseError as exc:
        return exc


def _drop_torn_tail(output: Path) -> None:
    """Cut a last line that a killed run left without its newline (it is done again)."""
    if not output.exists():
        return
    with output.open("rb+") as fh:
        end = fh.seek(0, 2)
        pos = end
        while pos > 0:  # back from the end, a block at a time, to the last newline
            start = max(0, pos - 65536)
            fh.seek(start)
            block = fh.read(pos - start)
            if pos == end and block.endswith(b"\n"):
                return
            cut = block.rfind(b"\n")
            if cut >= 0:
                fh.truncate(start + cut + 1)
                return
            pos = start
        fh.truncate(0)


def done_hashes(output: Path) -> set[str]:
    """The sha256 of every photo already answered in ``output`` (a torn last line is ignored:
    that photo is done again)."""
    done: set[str] = set()
    if not output.exists():
        return done
    with output.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and row.get("sha256"):
                done.add(str(row["sha256"]))
    return done


def identify_tree(
    gallery: Any,
    paths: Sequence[str],
    output: Path,
    *,
    top: int = 5,
    actor: str,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    resources: Resources = DEFAULT_RESOURCES,
    shared_storage: bool = False,
) -> dict[str, Any]:
    """Identify each photo of ``paths`` (files; see ``batch.expand_images``) into ``output``, one
    JSON line per photo (``path``, ``sha256``, ``faces`` as ``facewise identify --json``, or
    ``error``), appending; photos whose sha256 is in ``output`` already are skipped."""
    from facewise.serialize import identification_dict

    gallery.threshold()  # an uncalibrated space or a bad gallery fails here, once
    _drop_torn_tail(output)
    done = frozenset(done_hashes(output))
    task = functools.partial(faces_task, done=done)
    settings = _settings(gallery.engine)
    counts = {"identified": 0, "skipped": 0, "failed": 0, "faces": 0}
    start = time.perf_counter()
    output.parent.mkdir(parents=True, exist_ok=True)
    with connect_if(executor, address, workers) as ray, output.open("a", encoding="utf-8") as out:
        if ray is not None and address:
            cluster_target_check(ray, gallery.location)
        for path, found in map_photos(
            task,
            list(paths),
            settings,
            executor=executor,
            workers=workers,
            address=address,
            resources=resources,
            shared_storage=shared_storage,
        ):
            if isinstance(found, FacewiseError):
                counts["failed"] += 1
                row: dict[str, Any] = {"path": path, "error": found.to_dict()}
            else:
                digest, faces = found
                if faces is None:
                    counts["skipped"] += 1
                    continue
                results = gallery.identify_faces(faces, top=top, actor=actor, image_sha256=digest)
                counts["identified"] += 1
                counts["faces"] += len(results)
                row = {
                    "path": path,
                    "sha256": digest,
                    "faces": [identification_dict(r) for r in results],
                }
            out.write(json.dumps(row, sort_keys=True) + "\n")
            out.flush()
    seconds = time.perf_counter() - start
    return {
        "output": str(output),
        "photos": len(paths),
        **counts,
        "seconds": round(seconds, 2),
        "photos_per_second": (counts["identified"] + counts["failed"]) / seconds
        if seconds > 0
        else 0.0,
        "executor": "ray" if address else executor,
        "ray_address": address,
    }


def _settings(engine: Any) -> dict[str, Any]:
    from facewise.gallery.batch import worker_settings

    return worker_settings(engine)


class _NoRay:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def connect_if(executor: str, address: str | None, workers: int) -> Any:
    """:func:`connect` for a Ray run (``executor="ray"`` or an address), else nothing."""
    if executor == "ray" or address:
        return connect(address, workers)
    return _NoRay()


__all__ = ["connect_if", "done_hashes", "faces_task", "identify_tree"]
