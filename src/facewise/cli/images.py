"""Commands over images: detect, embed, verify."""

from __future__ import annotations

from typing import Any

import click

from facewise.cli.common import (
    detector_option,
    emit_json,
    engine_from,
    handle_errors,
    json_option,
    model_option,
    output_path,
    quiet_option,
    run_per_input,
)
from facewise.cli.render import draw
from facewise.engine import DEFAULT_ANALYSIS
from facewise.serialize import (
    analyses_dict,
    detections_dict,
    embeddings_dict,
    liveness_field,
    verification_dict,
)

images_argument = click.argument("images", nargs=-1, required=True)


@click.command()
@images_argument
@detector_option
@click.option(
    "--draw",
    "draw_to",
    default=None,
    help="Write the image with boxes drawn: a file for one input, a folder for several.",
)
@json_option
@quiet_option
@handle_errors
def detect(
    images: tuple[str, ...], detector: str | None, draw_to: str | None, as_json: bool, quiet: bool
) -> None:
    """Find faces: box, score and 5 landmarks for every face in every image."""
    engine = engine_from(detector=detector)
    engine.detector  # an unknown name fails here, once, rather than once per image  # noqa: B018

    def work(path: str) -> dict[str, Any]:
        image = engine.load_image(path)
        found = engine.detector.detect(image)
        result: dict[str, Any] = detections_dict(found)
        if draw_to:
            from PIL import Image as PILImage

            target = output_path(draw_to, path, len(images) > 1)
            PILImage.fromarray(draw(image, found)).save(target)
            result["drawn"] = str(target)
        return result

    def show(path: str, result: dict[str, Any]) -> None:
        click.echo(f"{path}: {len(result['faces'])} face(s)")
        for face in result["faces"]:
            click.echo(f"  box {face['bbox']} score {face['score']}")

    run_per_input(list(images), quiet, "detecting", work, as_json, show)


@click.command()
@images_argument
@model_option
@detector_option
@click.option("--largest", is_flag=True, help="Keep only the largest face of each image.")
@click.option("--flip/--no-flip", default=None, help="Test-time flip fusion.")
@json_option
@quiet_option
@handle_errors
def embed(
    images: tuple[str, ...],
    embedder: str | None,
    detector: str | None,
    largest: bool,
    flip: bool | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Embedding vectors for the faces in each image (one JSON object per line with --json)."""
    engine = engine_from(embedder=embedder, detector=detector, flip=flip)
    space = engine.space.as_dict()

    def work(path: str) -> dict[str, Any]:
        faces = engine.embed(path, largest=largest)
        return embeddings_dict(faces, space)

    def show(path: str, result: dict[str, Any]) -> None:
        click.echo(f"{path}: {len(result['faces'])} face(s), {space['dim']}-D {space['model']}")

    run_per_input(list(images), quiet, "embedding", work, as_json, show)


@click.command()
@click.argument("image_a")
@click.argument("image_b")
@model_option
@detector_option
@click.option(
    "--threshold-at",
    "operating_point",
    type=click.Choice(["fmr", "accuracy"]),
    default="fmr",
    show_default=True,
    help="fmr: false-match rate 1e-3 on LFW; accuracy: best LFW accuracy.",
)
@click.option("--flip/--no-flip", default=None, help="Test-time flip fusion.")
@click.option("--liveness", "with_liveness", is_flag=True, help="Add each face's liveness verdict.")
@json_option
@handle_errors
def verify(
    image_a: str,
    image_b: str,
    embedder: str | None,
    detector: str | None,
    operating_point: str,
    flip: bool | None,
    with_liveness: bool,
    as_json: bool,
) -> None:
    """Are the largest faces of IMAGE_A and IMAGE_B the same person? Exit 0 when compared."""
    engine = engine_from(embedder=embedder, detector=detector, flip=flip)
    verification = engine.verify(image_a, image_b, operating_point=operating_point)
    result = verification_dict(verification)
    if with_liveness:
        from facewise.liveness import check_pair

        pair = check_pair(engine, image_a, image_b, verification)
        for key, judged in zip(("face_a", "face_b"), pair, strict=True):
            result[key]["liveness"] = liveness_field(judged)
    if as_json:
        emit_json(result)
        return
    verdict = "same person" if result["verified"] else "different people"
    click.echo(
        f"{verdict}: score {result['score']:.4f} "
        f"(threshold {result['threshold']:.4f} at {operating_point}, {result['model']})"
    )
    for key in ("face_a", "face_b") if with_liveness else ():
        live = result[key]["liveness"]
        click.echo(f"  {key}: {'live' if live['live'] else 'attack'} (score {live['score']})")


@click.command()
@images_argument
@click.option(
    "--what",
    default=",".join(DEFAULT_ANALYSIS),
    show_default=True,
    help="Comma-separated: age, gender, expression, pose, landmarks, mesh, quality, liveness.",
)
@click.option("--largest", is_flag=True, help="Only the largest face of each image.")
@click.option(
    "--aligned",
    is_flag=True,
    help="Inputs are tight face crops: analyse the whole image without detection.",
)
@click.option(
    "--draw",
    "draw_to",
    default=None,
    help="Write the image with boxes and labels: a file for one input, a folder for several.",
)
@detector_option
@json_option
@quiet_option
@handle_errors
def analyze(
    images: tuple[str, ...],
    what: str,
    largest: bool,
    aligned: bool,
    draw_to: str | None,
    detector: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Age, gender, expression, head pose, landmarks and quality of every face."""
    wanted = [w.strip() for w in what.split(",") if w.strip()]
    engine = engine_from(detector=detector)

    def work(path: str) -> dict[str, Any]:
        faces = engine.analyze(path, what=wanted, largest=largest, aligned=aligned)
        result: dict[str, Any] = analyses_dict(faces, wanted)
        if draw_to:
            from PIL import Image as PILImage

            target = output_path(draw_to, path, len(images) > 1)
            labels = [_label(face) for face in result["faces"]]
            picture = draw(engine.load_image(path), [f.detection for f in faces], labels)
            PILImage.fromarray(picture).save(target)
            result["drawn"] = str(target)
        return result

    def show(path: str, result: dict[str, Any]) -> None:
        click.echo(f"{path}: {len(result['faces'])} face(s)")
        for face in result["faces"]:
            click.echo(f"  {face['bbox']}: {_label(face)}")

    run_per_input(list(images), quiet, "analysing", work, as_json, show)


def _label(face: dict[str, Any]) -> str:
    parts = []
    if "age" in face:
        gender = face.get("gender") or "gender uncertain"
        parts.append(f"{gender} {face['age']:.0f}")
    if "expression" in face:
        parts.append(face["expression"])
    if "pose" in face:
        parts.append(f"yaw {face['pose']['yaw']:.0f}")
    if "quality" in face:
        parts.append(f"q {face['quality']:.2f}")
    return ", ".join(parts)


from facewise.cli.liveness_cmd import challenge, liveness  # noqa: E402  (registered with these)

COMMANDS = (detect, embed, verify, analyze, liveness, challenge)
