"""``facewise calibrate``: thresholds for your own model's space, measured on your own pairs and
kept in ``FACEWISE_HOME/thresholds.json``, where ``verify`` and ``identify`` find them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facewise.cli.common import detector_option, emit_json, handle_errors, json_option


@click.command("calibrate")
@click.option(
    "--model",
    "embedder",
    required=True,
    help="The embedding model to calibrate: onnx:FILE (README, 'Your own model').",
)
@detector_option
@click.option(
    "--pairs",
    "pairs_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="CSV with path_a,path_b,same_identity (1/0) [,fold], paths relative to --root; "
    "or LFW's pairs.txt.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder the image paths are relative to (default: the pairs file's).",
)
@click.option(
    "--identities",
    type=click.Choice(["none", "folder"]),
    default="none",
    show_default=True,
    help="folder: each image's parent folder names its person; then every two images of "
    "different people are impostors, and identify can be calibrated too.",
)
@click.option(
    "--fmr",
    "target_fmr",
    type=float,
    default=1e-3,
    show_default=True,
    help="The false-match rate of verify's 'fmr' operating point.",
)
@click.option("--flip/--no-flip", default=None, help="Test-time flip fusion (calibrated apart).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes.")
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Embedding cache folder (default: FACEWISE_HOME/eval-cache).",
)
@click.option("--dry-run", is_flag=True, help="Measure and print; write nothing.")
@json_option
@handle_errors
def calibrate(
    embedder: str,
    detector: str | None,
    pairs_file: Path,
    root: Path | None,
    identities: str,
    target_fmr: float,
    flip: bool | None,
    workers: int | None,
    cache_dir: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Measure the thresholds of an onnx:FILE model's space on your pairs (best accuracy, the
    FMR target; identification tables with --identities folder) and write them into
    FACEWISE_HOME/thresholds.json, after which verify and identify use them."""
    from facewise.calibration import user_key, write_user_entry
    from facewise.embedders.onnx_file import load_card, parse_spec
    from facewise.errors import InvalidInput
    from facewise.evaluate.cache import resolve_pipeline
    from facewise.evaluate.calibrate import run_calibrate
    from facewise.evaluate.datasets import load_pairs
    from facewise.settings import load_settings

    if not embedder.startswith("onnx:"):
        raise InvalidInput(
            f"{embedder} is calibrated by facewise already (models/thresholds.json); "
            "calibrate is for your own models: --model onnx:FILE"
        )
    settings = load_settings(embedder=embedder)
    pipeline = resolve_pipeline(detector=detector, embedder=embedder, flip=flip, settings=settings)
    pairs = load_pairs(pairs_file, root)
    embedded, entry = run_calibrate(
        pairs,
        pipeline,
        identities=identities,
        fmr=target_fmr,
        settings=settings,
        cache_dir=cache_dir,
        workers=workers,
    )
    space = embedded.space
    path, options = parse_spec(embedder)
    card = load_card(path, options)
    entry["model_file"] = {
        "path": str(path.resolve()),
        "licence": card.licence,
        "training_data": card.training_data,
    }
    written = None if dry_run else write_user_entry(space, entry, settings.home)
    out: dict[str, Any] = {
        "space": space.as_dict(),
        "key": user_key(space),
        "detector": pipeline.detector,
        "written": None if written is None else str(written),
        **entry,
    }
    nonmated = out.pop("nonmated", None)
    out["identify"] = (
        {"calibrated": True, "tables": {t: sorted(k) for t, k in nonmated["tables"].items()}}
        if nonmated
        else {"calibrated": False, "reason": entry.get("nonmated_missing", "")}
    )
    if as_json:
        emit_json(out)
        return
    fmr = entry["fmr"]
    click.echo(f"{space.model} ({space.dim}-D, sha256 {space.weights_sha256[:12]}…)")
    click.echo(
        f"  pairs: {entry['pairs']['total']} ({entry['pairs']['without_face']} without a face)"
    )
    click.echo(
        f"  accuracy threshold {entry['accuracy']['threshold']:.4f} "
        f"(accuracy {entry['accuracy']['accuracy_pairs']:.4f} on these pairs)"
    )
    click.echo(
        f"  fmr {fmr['target_fmr']:g} threshold {fmr['threshold']:.4f} over "
        f"{fmr['impostor_comparisons']:,} impostor comparisons (TMR {fmr['tmr_genuine']:.4f})"
    )
    if "note" in fmr:
        click.echo(f"  note: {fmr['note']}")
    if nonmated:
        click.echo("  identify: calibrated")
    else:
        click.echo(f"  identify: not calibrated: {out['identify']['reason']}")
    click.echo(f"  written to {written}" if written else "  dry run: nothing written")


COMMANDS = (calibrate,)
