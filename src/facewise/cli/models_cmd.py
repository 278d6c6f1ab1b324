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


USER_MODELS_NOTE = (
    "Your own models (--model onnx:FILE) are not facewise's: it ships no weights for them, and "
    "their licence and training data are yours to check (the card's 'licence' and "
    "'training_data' are shown as written; README, 'Your own model')."
)


def user_model_rows() -> list[dict[str, Any]]:
    """The spaces ``facewise calibrate`` calibrated in this FACEWISE_HOME."""
    from facewise.calibration import user_entries
    from facewise.settings import load_settings

    rows = []
    for key, entry in sorted(user_entries(load_settings().home).items()):
        space, file = entry.get("space", {}), entry.get("model_file", {})
        rows.append(
            {
                "key": key,
                "model": space.get("model"),
                "dim": space.get("dim"),
                "flip": space.get("flip"),
                "sha256": entry.get("weights_sha256"),
                "file": file.get("path"),
                "licence": file.get("licence") or "not stated in its card",
                "training_data": file.get("training_data") or "not stated in its card",
                "calibrated_on": entry.get("calibrated_on"),
                "identify": "nonmated" in entry,
            }
        )
    return rows


@click.command("models")
@json_option
@handle_errors
def models_command(as_json: bool) -> None:
    """List the bundled models with role, file, size, sha256 (checked) and weights licence, and
    the user's own calibrated onnx:FILE models."""
    rows = model_rows()
    own = user_model_rows()
    if as_json:
        emit_json({"models": rows, "user_models": own, "user_models_note": USER_MODELS_NOTE})
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
        if own:
            print_table(
                "your own models (calibrated in this FACEWISE_HOME)",
                ["model", "dim", "flip", "sha256", "licence", "training data", "identify"],
                [
                    [
                        r["model"],
                        r["dim"],
                        r["flip"],
                        (r["sha256"] or "")[:12] + "…",
                        r["licence"],
                        r["training_data"],
                        "calibrated" if r["identify"] else "not calibrated",
                    ]
                    for r in own
                ],
            )
        click.echo(USER_MODELS_NOTE)
    # An optional model that is not installed is no failure (facewise doctor says how to add it).
    if any(r["checksum"] != "ok" and (r["installed"] or not r["optional"]) for r in rows):
        raise SystemExit(6)
