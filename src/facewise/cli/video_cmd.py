"""``facewise video`` (who appears when in a clip, a camera or a stream) and ``facewise blur``
(every face covered in a photo or a video)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facewise.cli.common import emit_json, handle_errors, json_option
from facewise.errors import InvalidInput


def _gallery() -> Any:
    from facewise.cli.gallery_cmd import open_gallery

    return open_gallery()


@click.command("video")
@click.argument("source")
@click.option("--out", "out", default=None, help="Write an annotated copy (boxes, names, audio).")
@click.option(
    "--every",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="Detect on every K-th frame; track in between.",
)
@click.option("--csv", "csv_path", default=None, help="Also write the timeline as CSV.")
@click.option(
    "--max-seconds", type=click.FloatRange(min=0, min_open=True), default=None, help="Stop after."
)
@click.option(
    "--identify/--no-identify",
    default=True,
    show_default=True,
    help="Decide who each track is against the gallery.",
)
@click.option("--expression", is_flag=True, help="Summarise each track's facial expression.")
@click.option("--detector", default=None, help="Detector (default: yunet).")
@json_option
@handle_errors
def video(
    source: str,
    out: str | None,
    every: int,
    csv_path: str | None,
    max_seconds: float | None,
    identify: bool,
    expression: bool,
    detector: str | None,
    as_json: bool,
) -> None:
    """Who appears when: SOURCE is a video file, a webcam index (0) or an rtsp:// URL."""
    from facewise.video import analyze as va
    from facewise.video.jobs import video_detector, write_annotated
    from facewise.video.sources import open_source

    src = open_source(source, max_seconds=max_seconds)
    if out and src.live:
        src.close()
        raise InvalidInput("--out needs a video file (a live source cannot be read twice)")
    gallery = _gallery() if identify else None
    try:
        engine = gallery.engine if gallery is not None else _engine()
        if gallery is not None:
            gallery.threshold()  # an uncalibrated space fails here, before the clip is read
        options = va.Options(every=every, identify=identify, expression=expression)
        try:
            analysis = va.analyze(
                src,
                engine,
                detector=video_detector(engine, detector),
                gallery=gallery,
                options=options,
            )
        finally:
            src.close()
    finally:
        if gallery is not None:
            gallery.close()
    result = va.to_dict(analysis)
    if csv_path:
        Path(csv_path).write_text(va.timeline_csv(result["timeline"]), encoding="utf-8")
    if out:
        written = write_annotated(source, out, analysis)
        result["annotated"] = {"path": out, **written}
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"{result['frames']} frames at {result['fps']} fps, {len(result['tracks'])} tracks "
        f"({result['processing_fps']} frames/s processed)"
    )
    for row in result["timeline"]:
        who = row["person"] or "unknown"
        click.echo(f"{row['start']:8.2f} - {row['end']:8.2f}  track {row['track']:3d}  {who}")


def _engine() -> Any:
    from facewise.cli.common import engine_from

    return engine_from()


@click.command("blur")
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@click.option(
    "--method",
    type=click.Choice(["pixelate", "blur", "solid"]),
    default="pixelate",
    show_default=True,
)
@click.option(
    "--keep",
    multiple=True,
    help="Leave this enrolled, consenting gallery person visible (repeatable).",
)
@click.option("--keep-audio", is_flag=True, help="Keep a video's audio (dropped by default).")
@click.option(
    "--every",
    type=click.IntRange(1, 10),
    default=1,
    show_default=True,
    help="Video: detect on every K-th frame (boxes are tracked and filled in between).",
)
@click.option("--detector", default=None, help="Detector (default: yunet).")
@json_option
@handle_errors
def blur(
    source: str,
    target: str,
    method: str,
    keep: tuple[str, ...],
    keep_audio: bool,
    every: int,
    detector: str | None,
    as_json: bool,
) -> None:
    """Cover every face in a photo or a video; metadata is stripped, a video's audio dropped
    unless --keep-audio. Writes TARGET; the report says what was covered."""
    from facewise.files import atomic_write
    from facewise.video.jobs import (
        blur_image,
        blur_video,
        consenting,
        encode_image,
        is_video,
        video_detector,
    )

    if Path(source).resolve() == Path(target).resolve():
        raise InvalidInput("TARGET must not be SOURCE")
    gallery = _gallery() if keep else None
    try:
        engine = gallery.engine if gallery is not None else _engine()
        visible = consenting(gallery, keep) if gallery is not None else set()
        found = video_detector(engine, detector, score=0.5)
        kind: Any = method
        if is_video(source):
            report = blur_video(
                engine,
                source,
                target,
                method=kind,
                keep=visible,
                gallery=gallery,
                detector=found,
                every=every,
                keep_audio=keep_audio,
            )
        else:
            image = engine.load_image(source)
            pixels, report = blur_image(
                engine, image, method=kind, keep=visible, gallery=gallery, detector=found
            )
            atomic_write(Path(target), [encode_image(pixels, Path(target).suffix)])
    finally:
        if gallery is not None:
            gallery.close()
    report["target"] = target
    if as_json:
        emit_json(report)
    else:
        faces = report.get("faces", report.get("covered_boxes"))
        click.echo(f"{target}: {faces} face boxes covered ({report['kind']})")


COMMANDS = (video, blur)
