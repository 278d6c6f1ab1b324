"""The ``facewise`` command line. Commands parse, call the Engine, and render a table or JSON.

Exit codes: 0 success (for verify: the comparison ran, match or not); 1 internal error; 2 invalid
input or usage; 3 undecodable image; 4 image too large; 5 no face where one is needed; 6 model
missing or corrupt, or an optional package not installed (the message names the extra); 7
embedding-space mismatch; 8 audit log tampered; 9 the person a write was for is gone; 10 the
gallery cannot be reached; 11 a face judged a presentation attack where a live one is needed
(enroll --liveness). Commands over several
images process every input and exit with the code of the first input that failed (0 when none
did).
"""

from __future__ import annotations

import logging

import click

from facewise.cli import (
    calibrate_cmd,
    cluster_cmd,
    doctor,
    eval_cmd,
    gallery_cmd,
    images,
    models_cmd,
    serve_cmd,
    video_cmd,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="facewise")
@click.option("--verbose", "-v", is_flag=True, help="Log what happens (stderr).")
def main(verbose: bool) -> None:
    """facewise: offline face detection, embedding and verification."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


for _command in (
    *images.COMMANDS,
    *gallery_cmd.COMMANDS,
    models_cmd.models_command,
    doctor.doctor,
    *serve_cmd.COMMANDS,
    *eval_cmd.COMMANDS,
    *calibrate_cmd.COMMANDS,
    *cluster_cmd.COMMANDS,
    *video_cmd.COMMANDS,
):
    main.add_command(_command)
