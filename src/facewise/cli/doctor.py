"""``facewise doctor``: load every model, check checksums, run the pipeline on a real photo.

A core install (``pip install facewise``) passes: the optional models and extras that are not
installed are listed, each with the exact command that installs it (``"missing"`` in the JSON),
and their checks are skipped. It fails (exit 1) when a core model is missing or broken, or when
an optional part that *is* installed does not work.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import click
import numpy as np

from facewise import extras, models
from facewise.cli.common import emit_json, handle_errors, json_option, print_table
from facewise.cli.models_cmd import model_rows
from facewise.engine import Engine
from facewise.types import Image

OPTIONAL_ANALYSIS: dict[str, tuple[tuple[str, ...], str]] = {
    "age,gender": (("age-v1", "gender-v1"), ""),
    "expression": (("fer-mini-xception",), "analysis"),
    "mesh": (("face-mesh",), "analysis"),
}
"""Analyses that need optional parts: what to ask for -> (model files, extra)."""
CORE_ANALYSIS = "pose,quality"


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


def missing_parts() -> list[dict[str, str]]:
    """Each optional model file and extra that is not installed, with the command for it."""
    out: list[dict[str, str]] = []
    for model in models.CATALOG.values():
        if model.optional and not _installed(model):
            out.append(
                {"kind": "model", "name": model.name, "for": model.role, "install": model.install}
            )
    for extra in extras.EXTRAS.values():
        absent = extras.missing(extra.name)
        if absent:
            out.append(
                {
                    "kind": "extra",
                    "name": extra.name,
                    "for": extra.purpose,
                    "install": extra.command,
                    "modules": ", ".join(absent),
                }
            )
    return out


def _installed(model: models.ModelFile) -> bool:
    try:
        return model.locate().is_file()
    except models.ModelError:
        return False


def run_checks() -> list[dict[str, Any]]:
    import skimage.data

    from facewise.io import load_image

    rows: list[dict[str, Any]] = []
    for model in model_rows():
        if model["optional"] and not model["installed"]:
            _skip(rows, f"weights {model['name']}", model["install"])
        else:
            _step(rows, f"weights {model['name']}", functools.partial(_weights, model))
    photo = load_image(skimage.data.astronaut())  # public-domain NASA photo shipped by scikit-image
    for detector in ("hog", "mtcnn", "mmod"):
        _step(rows, f"detect {detector}", functools.partial(_detect, detector, photo))
    for embedder in ("dlib-resnet", "facenet"):
        _step(
            rows, f"represent + verify {embedder}", functools.partial(_represent, embedder, photo)
        )
    _step(rows, "graph cache", _graph_cache)
    _step(rows, f"analyze {CORE_ANALYSIS}", functools.partial(_analyze, CORE_ANALYSIS, photo))
    for what, (files, extra) in OPTIONAL_ANALYSIS.items():
        needs = [models.CATALOG[f].install for f in files if not _installed(models.CATALOG[f])]
        if extra and extras.missing(extra):
            needs.append(extras.EXTRAS[extra].command)
        if needs:
            _skip(rows, f"analyze {what}", " and ".join(dict.fromkeys(needs)))
        else:
            _step(rows, f"analyze {what}", functools.partial(_analyze, what, photo))
    return rows


def _graph_cache() -> str:
    """Where the dlib ResNet's converted ONNX graph is kept (no cache is not a failure)."""
    from facewise.embedders.dlib_onnx import CONVERTER_VERSION
    from facewise.models.cache import cache_path

    path = cache_path("dlib-resnet", models.info("dlib-resnet").sha256, CONVERTER_VERSION)
    if path.is_file():
        return f"dlib-resnet graph cached in {path.parent}"
    return (
        f"no cached graph in {path.parent} (not writable?): each process converts the "
        "dlib ResNet again (~2 s); set FACEWISE_CACHE to a writable folder"
    )


def _skip(rows: list[dict[str, Any]], name: str, install: str) -> None:
    """An optional part that is not installed: not a failure; the row says how to install it."""
    rows.append(
        {
            "check": name,
            "ok": True,
            "skipped": True,
            "detail": f"optional, not installed: {install}",
            "ms": 0.0,
        }
    )


def _analyze(what: str, photo: Image) -> str:
    faces = Engine().analyze(photo, what=what.split(","), largest=True)
    if not faces:
        raise RuntimeError("no face found on the astronaut photo")
    a = faces[0].attributes
    shown = []
    if "gender" in a:
        shown.append(f"{a['gender'] or 'gender uncertain'} ~{a['age']:.0f} y")
    if "expression" in a:
        shown.append(str(a["expression"]))
    if "pose" in a:
        shown.append(f"yaw {a['pose']['yaw']:.0f} deg")
    if "quality" in a:
        shown.append(f"quality {a['quality']:.2f}")
    if "mesh" in a:
        shown.append("468-point mesh")
    return ", ".join(shown) or ", ".join(sorted(a))


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
    absent = missing_parts()
    if as_json:
        emit_json({"ok": all(r["ok"] for r in rows), "checks": rows, "missing": absent})
    else:
        print_table(
            "facewise doctor (photo: scikit-image astronaut, public domain)",
            ["check", "status", "detail", "ms"],
            [
                [
                    r["check"],
                    "skip" if r.get("skipped") else "ok" if r["ok"] else "FAIL",
                    r["detail"],
                    r["ms"],
                ]
                for r in rows
            ],
        )
        if absent:
            print_table(
                "optional parts not installed (the core works without them)",
                ["part", "for", "install with"],
                [[f"{m['kind']} {m['name']}", m["for"], m["install"]] for m in absent],
            )
    if not all(r["ok"] for r in rows):
        raise SystemExit(1)
