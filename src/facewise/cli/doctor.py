"""``facewise doctor``: load every model, check checksums, run the pipeline on a real photo."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from facewise.cli.common import emit_json, handle_errors, json_option, print_table
from facewise.cli.models_cmd import model_rows


def _step(rows: list[dict[str, Any]], name: str, action: Callable[[], str]) -> None:
    start = time.perf_counter()
    try:
        detail, ok = action(), True
    except Exception as exc:  # doctor reports every failure and goes on
        detail, ok = f"{type(exc).__name__}: {exc}", False
    rows.append({"check": name, "ok": ok, "detail": detail,
                 "ms": round((time.perf_counter() - start) * 1000, 1)})


def run_checks() -> list[dict[str, Any]]:
    import skimage.data

    from facewise import compare
    from facewise.engine import Engine
    from facewise.io import load_image

    rows: list[dict[str, Any]] = []
    for model in model_rows():
        _step(rows, f"weights {model['name']}",
              lambda m=model: f"{m['checksum']} ({(m['bytes'] or 0) / 1e6:.1f} MB)"
              if m["checksum"] == "ok" else _raise(m["checksum"]))
    photo = load_image(skimage.data.astronaut())  # public-domain NASA photo shipped by scikit-image
    faces: dict[str, Any] = {}
    for detector in ("hog", "mtcnn", "mmod"):
        engine = Engine(detector=detector)
        _step(rows, f"detect {detector}", lambda e=engine: _count(e.detector.detect(photo)))
    for model in ("dlib-resnet", "facenet"):
        engine = Engine(embedder=model)

        def represent(e: Engine = engine, m: str = model) -> str:
            found = e.represent(photo, largest=True)
            if not found:
                raise RuntimeError("no face found on the astronaut photo")
            faces[m] = found[0]
            vec = found[0].embedding.vector  # type: ignore[union-attr]
            return f"{vec.shape[0]}-D, norm {float((vec ** 2).sum()) ** 0.5:.3f}"

        _step(rows, f"represent {model}", represent)
        _step(rows, f"threshold {model}",
              lambda e=engine: f"fmr {compare.threshold(e.space, 'fmr'):.4f}, "
              f"accuracy {compare.threshold(e.space, 'accuracy'):.4f}")
        if model in faces:
            _step(rows, f"self-verify {model}",
                  lambda e=engine, m=model: _self_verify(e, faces[m]))
    return rows


def _raise(message: str) -> str:
    raise RuntimeError(message)


def _count(found: list[Any]) -> str:
    if not found:
        raise RuntimeError("no face found on the astronaut photo")
    return f"{len(found)} face(s), box {found[0].bbox.as_list()}"


def _self_verify(engine: Any, face: Any) -> str:
    result = engine.verify_faces(face, face)
    if not result.verified:
        raise RuntimeError(f"a face did not match itself (score {result.score:.4f})")
    return f"score {result.score:.4f} >= {result.threshold:.4f}"


@click.command()
@json_option
@handle_errors
def doctor(as_json: bool) -> None:
    """Check the installation: models, checksums, and the whole pipeline on a real photo."""
    rows = run_checks()
    if as_json:
        emit_json({"ok": all(r["ok"] for r in rows), "checks": rows})
    else:
        print_table("facewise doctor (photo: scikit-image astronaut, public domain)",
                    ["check", "status", "detail", "ms"],
                    [[r["check"], "ok" if r["ok"] else "FAIL", r["detail"], r["ms"]] for r in rows])
    if not all(r["ok"] for r in rows):
        raise SystemExit(1)
