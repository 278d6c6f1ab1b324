"""``facewise eval pad``: presentation-attack detection measured the ISO/IEC 30107-3 way
(:mod:`facewise.evaluate.pad`) on a labelled manifest, with the bundled PAD model or a user's
ONNX one (the ``--pad-*`` options of ``facewise liveness``). Registered into the ``eval`` group
by :mod:`facewise.cli.eval_cmd`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facewise.cli.common import detector_option, handle_errors, json_option, quiet_option
from facewise.cli.liveness_cmd import pad_model_from, pad_options

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("pad")
@click.option(
    "--manifest", type=_FILE, required=True, help="The test set: a CSV with a path column."
)
@click.option(
    "--label-column", required=True, help="The column that says bona fide (--live-value) or not."
)
@click.option("--attack-column", help="The column naming each attack's type (default: its label).")
@click.option("--live-value", default="live", show_default=True, help="The bona fide label.")
@click.option(
    "--dev-manifest",
    type=_FILE,
    help="A dev set (same columns) whose EER threshold is applied to the test set; without one "
    "the model's own threshold is used.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder the image paths are relative to (default: each manifest's folder).",
)
@click.option(
    "--scores", "scores_path", type=_FILE, help="Write every image's score here (dev and test)."
)
@click.option("--report", "report_path", type=_FILE, help="Write the HTML report here.")
@pad_options
@detector_option
@json_option
@quiet_option
@handle_errors
def pad_cmd(
    manifest: Path,
    label_column: str,
    attack_column: str | None,
    live_value: str,
    dev_manifest: Path | None,
    root: Path | None,
    scores_path: Path | None,
    report_path: Path | None,
    detector: str | None,
    as_json: bool,
    quiet: bool,
    **pad: Any,
) -> None:
    """Presentation-attack detection on a labelled manifest: APCER per attack type and the
    worst, BPCER, ACER at the dev-fixed (or the model's) threshold, BPCER at APCER 1/5/10%,
    APCER at BPCER 1/5%, the DET curve. The output says which threshold was used and which
    attack types the test set covers."""
    from facewise.cli.eval_cmd import EvalOptions  # here: eval_cmd imports this module
    from facewise.evaluate.pad import PadSet, load_pad_manifest, run_pad

    opts = EvalOptions(
        root=root, detector=detector, report_path=report_path, as_json=as_json, quiet=quiet
    )
    if report_path is not None:  # before the work, not after it
        from facewise import extras

        extras.check("eval")

    def load(path: Path) -> PadSet:
        return load_pad_manifest(
            path,
            root,
            label_column=label_column,
            attack_column=attack_column,
            live_value=live_value,
        )

    test = load(manifest)
    dev = None if dev_manifest is None else load(dev_manifest)
    from facewise.settings import load_settings

    result = run_pad(
        test,
        dev=dev,
        model=pad_model_from(pad),
        settings=load_settings(detector=detector),
        scores_path=scores_path,
    )
    opts.finish(result)


COMMANDS = (pad_cmd,)
