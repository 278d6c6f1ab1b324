"""``facewise liveness``: the passive liveness of every face of each image, or the clip-level
verdict of a video file; and the ``--pad-model`` options that run a user's ONNX PAD model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import click

from facewise.cli.common import (
    detector_option,
    emit_json,
    engine_from,
    handle_errors,
    json_option,
    quiet_option,
    run_per_input,
)
from facewise.errors import InvalidInput
from facewise.liveness.challenge import FALLBACK, MESSAGES
from facewise.liveness.model import OnnxOptions, OnnxPadModel, PadModel
from facewise.serialize import liveness_dict

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def _triple(text: str) -> tuple[float, float, float]:
    parts = [float(v) for v in text.split(",")]
    if len(parts) != 3:
        raise InvalidInput(f"expected three comma-separated numbers, got {text!r}")
    return parts[0], parts[1], parts[2]


def pad_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options that pick the PAD model: the bundled one, or ``--pad-model x.onnx``."""
    d = OnnxOptions()
    for option in reversed(
        [
            click.option(
                "--pad-model",
                default=None,
                help="An ONNX PAD model instead of the bundled one (NCHW float input; output "
                "a live probability or class logits).",
            ),
            click.option("--pad-size", type=int, default=d.size, show_default=True),
            click.option("--pad-margin", type=float, default=d.margin, show_default=True),
            click.option(
                "--pad-channels",
                type=click.Choice(["rgb", "bgr"]),
                default=d.channels,
                show_default=True,
            ),
            click.option("--pad-scale01", is_flag=True, help="Divide pixels by 255 first."),
            click.option("--pad-mean", default="0,0,0", show_default=True),
            click.option("--pad-std", default="1,1,1", show_default=True),
            click.option("--pad-live-index", type=int, default=d.live_index, show_default=True),
            click.option("--pad-threshold", type=float, default=d.threshold, show_default=True),
        ]
    ):
        func = option(func)
    return func


def pad_model_from(options: dict[str, Any]) -> PadModel | None:
    """The ONNX model the ``--pad-*`` options name, or None for the bundled one."""
    path = options.pop("pad_model")
    settings = {k: options.pop(k) for k in list(options) if k.startswith("pad_")}
    if path is None:
        return None
    return OnnxPadModel(
        path,
        OnnxOptions(
            size=settings["pad_size"],
            margin=settings["pad_margin"],
            channels=settings["pad_channels"],
            scale01=settings["pad_scale01"],
            mean=_triple(settings["pad_mean"]),
            std=_triple(settings["pad_std"]),
            live_index=settings["pad_live_index"],
            threshold=settings["pad_threshold"],
        ),
    )


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--largest", is_flag=True, help="Only the largest face of each image.")
@click.option("--max-frames", type=int, default=150, show_default=True, help="Of a video.")
@pad_options
@detector_option
@json_option
@quiet_option
@handle_errors
def liveness(
    inputs: tuple[str, ...],
    largest: bool,
    max_frames: int,
    detector: str | None,
    as_json: bool,
    quiet: bool,
    **pad: Any,
) -> None:
    """Is each face live or a presentation attack (a printed photo)? One line per image:
    every face's box, verdict, live probability (score) and threshold. A video file (.mp4,
    .avi, ...) gets one clip-level verdict for its largest face: the fused score, and frozen or
    replayed frames judged not live."""
    engine = engine_from(detector=detector)
    model = pad_model_from(pad)

    def work(path: str) -> dict[str, Any]:
        if Path(path).suffix.lower() in VIDEO_SUFFIXES:
            from facewise.liveness.clip import check_clip, read_video

            clip = check_clip(
                read_video(path, max_frames=max_frames), engine.detector.detect, model
            )
            return {"clip": clip.as_dict()}
        return liveness_dict(engine.liveness(path, largest=largest, model=model))

    def show(path: str, result: dict[str, Any]) -> None:
        if "clip" in result:
            c = result["clip"]
            verdict = "live" if c["live"] else f"not live ({c['reason']})"
            click.echo(f"{path}: {verdict}, score {c['score']:.3f} over {c['faces']} face frames")
            return
        click.echo(f"{path}: {len(result['faces'])} face(s)")
        for face in result["faces"]:
            verdict = "live" if face["live"] else "attack"
            click.echo(
                f"  {face['bbox']}: {verdict} (score {face['score']}, "
                f"threshold {face['threshold']})"
            )

    run_per_input(list(inputs), quiet, "checking liveness", work, as_json, show)


@click.command("challenge")
@click.argument("video")
@click.option(
    "--steps",
    default=None,
    help="The order asked: blink,turn or turn,blink (default: a random order, see --seed).",
)
@click.option("--seed", type=int, default=None, help="Seed of the random order.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds.")
@click.option("--max-frames", type=int, default=600, show_default=True)
@detector_option
@json_option
@handle_errors
def challenge(
    video: str,
    steps: str | None,
    seed: int | None,
    timeout: float,
    max_frames: int,
    detector: str | None,
    as_json: bool,
) -> None:
    """The active liveness challenge on a video file: two steps (a blink, a head turn) in the
    order asked, within --timeout seconds of video time. Frames are fed to the challenge's state
    machine (the largest face's 68 landmarks and yaw) until it passes or fails; a still or
    replayed picture fails it (frozen). The result is a field, never an error: state passed or
    failed, the reason, the steps done, and a message with an accessible fallback."""
    from facewise.engine import largest_detection
    from facewise.liveness.challenge import Challenge, ChallengeOptions, Step, observation
    from facewise.liveness.clip import iter_video, video_fps

    order = tuple(s.strip() for s in steps.split(",")) if steps else ()
    machine = Challenge(  # Challenge refuses any other steps (InvalidInput)
        steps=cast("tuple[Step, ...]", order),
        options=ChallengeOptions(timeout_s=timeout),
        seed=seed,
    )
    engine = engine_from(detector=detector)
    pose = engine.analyzer("pose")
    fps = video_fps(video)
    status = machine.status
    frames = 0
    for frame in iter_video(video, max_frames=max_frames):
        found = engine.detector.detect(frame)
        face = largest_detection(found) if found else None
        status = machine.observe(observation(frames / fps, frame, face, pose))
        frames += 1
        if status.state != "pending":
            break
    result: dict[str, Any] = {"path": video, "steps": list(machine.steps), **status.as_dict()}
    if status.state == "pending":
        result.update(state="failed", step=None, reason="video_ended")
    reason = result["reason"] or "passed"
    result["live"] = result["state"] == "passed"
    result["frames"] = frames
    result["seconds"] = round(frames / fps, 2)
    result["message"] = MESSAGES.get(reason, reason) + ("" if result["live"] else " " + FALLBACK)
    if as_json:
        emit_json(result)
        return
    click.echo(f"{video}: {result['state']} ({reason}); asked {', '.join(result['steps'])}, done "
               f"{', '.join(result['done']) or 'nothing'} in {result['seconds']} s")  # fmt: skip
    click.echo(result["message"])


COMMANDS = (liveness, challenge)
