"""``facewise doctor``: load every model, check checksums, run the pipeline on a real photo."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import click
import numpy as np

from facewise.cli.common import emit_json, handle_errors, json_option, print_table
from facewise.cli.models_cmd import model_rows
from facewise.engine import Engine
from facewise.types import Image


def _step(rows: list[dict[str, Any]], name: str, action: Callable[[], str]) -> None:
    start = time.perf_counter()
    try:
        detail, ok = action(), True
    except Exception as exc:  # doctor reports every failure and goes on
        detail, ok = f"{type(exc).__name__}: {exc}", False
    rows.append(
        {
            "check": name,
            "ok": ok,
            "detail": detail,
            "ms": round((time.perf_counter() - start) * 1000, 1),
        }
    )


def run_checks() -> list[dict[str, Any]]:
    import skimage.data

    from facewise.io import load_image

    rows: list[dict[str, Any]] = []
    for model in model_rows():
        _step(rows, f"weights {model['name']}", functools.partial(_weights, model))
    photo = load_image(skimage.data.astronaut())  # public-domain NASA photo shipped by scikit-image
    for detector in ("hog", "mtcnn", "mmod"):
        _step(rows, f"detect {detector}", functools.partial(_detect, detector, photo))
    for embedder in ("dlib-resnet", "facenet"):
        _step(
            rows, f"represent + verify {embedder}", functools.partial(_represent, embedder, photo)
        )
    _step(rows, "analyze", functools.partial(_analyze, photo))
    return rows


def _analyze(photo: Image) -> str:
    faces = Engine().analyze(photo, largest=True)
    if not faces:
        raise RuntimeError("no face found on the astronaut photo")
    a = faces[0].attributes
    return (
        f"{a['gender']} ~{a['age']:.0f} y, {a['expression']}, yaw {a['pose']['yaw']:.0f} deg, "
        f"quality {a['quality']:.2f}"
    )


def _weights(model: dict[str, Any]) -> str:
    if model["checksum"] != "ok":
        raise RuntimeError(model["checksum"])
    return f"sha256 ok ({(model['bytes'] or 0) / 1e6:.1f} MB)"


def _detect(detector: str, photo: Image) -> str:
    found = Engine(detector=detector).detector.detect(photo)
    if not found:
        raise RuntimeError("no face found on the astronaut photo")
    return f"{len(found)} face(s), box {found[0].bbox.as_list()}"


def _represent(embedder: str, photo: Image) -> str:
    engine = Engine(embedder=embedder)
    found = engine.embed(photo, largest=True)
    if not found or found[0].embedding is None:
        raise RuntimeError("no face found on the astronaut photo")
    mirrored = engine.embed(np.ascontiguousarray(photo[:, ::-1]), largest=True)
    if not mirrored:
        raise RuntimeError("no face found on the mirrored astronaut photo")
    result = engine.verify_faces(found[0], mirrored[0])
    if not result.verified:
        raise RuntimeError(f"the face did not match its mirror image (score {result.score:.4f})")
    return (
        f"{engine.space.dim}-D; face vs its mirror image: score {result.score:.4f} "
        f">= threshold {result.threshold:.4f}"
    )


@click.command()
@json_option
@handle_errors
def doctor(as_json: bool) -> None:
    """Check the installation: models, checksums, and the whole pipeline on a real photo."""
    rows = run_checks()
    if as_json:
        emit_json({"ok": all(r["ok"] for r in rows), "checks": rows})
    else:
        print_table(
            "facewise doctor (photo: scikit-image astronaut, public domain)",
            ["check", "status", "detail", "ms"],
            [[r["check"], "ok" if r["ok"] else "FAIL", r["detail"], r["ms"]] for r in rows],
        )
    if not all(r["ok"] for r in rows):
        raise SystemExit(1)
