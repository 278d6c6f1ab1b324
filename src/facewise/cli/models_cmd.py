"""``facewise models``: every bundled weight file, its size, checksum and licence."""

from __future__ import annotations

from typing import Any

import click

from facewise import models
from facewise.cli.common import emit_json, handle_errors, json_option, print_table
from facewise.errors import FacewiseError


def model_rows() -> list[dict[str, Any]]:
    rows = []
    for item in models.CATALOG.values():
        location = item.locate() if _installed(item) else None
        status = "ok"
        try:
            models.path(item.name)
        except FacewiseError as exc:
            status = exc.message
        rows.append(
            {
                "name": item.name,
                "role": item.role,
                "package": item.package,
                "file": str(location) if location else None,
                "bytes": location.stat().st_size if location and location.is_file() else None,
                "sha256": item.sha256,
                "checksum": status,
                "licence": item.licence,
                "training_data": item.training_data,
                "installed": location is not None and location.is_file(),
                "optional": item.optional,
                "install": item.install or None,
            }
        )
    return rows


def _installed(item: models.ModelFile) -> bool:
    try:
        item.locate()
    except FacewiseError:
        return False
    return True


@click.command("models")
@json_option
@handle_errors
def models_command(as_json: bool) -> None:
    """List the bundled models with role, file, size, sha256 (checked) and weights licence."""
    rows = model_rows()
    if as_json:
        emit_json({"models": rows})
    else:
        print_table(
            "bundled models (dlib HOG detection is compiled into dlib: Boost licence)",
            ["name", "role", "MB", "sha256", "checksum", "licence", "training data"],
            [
                [
                    r["name"],
                    r["role"],
                    f"{(r['bytes'] or 0) / 1e6:.1f}",
                    r["sha256"][:12] + "…",
                    r["checksum"],
                    r["licence"],
                    r["training_data"],
                ]
                for r in rows
            ],
        )
    # An optional model that is not installed is no failure (facewise doctor says how to add it).
    if any(r["checksum"] != "ok" and (r["installed"] or not r["optional"]) for r in rows):
        raise SystemExit(6)
