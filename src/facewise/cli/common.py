"""Helpers shared by the CLI commands: error handling, JSON, progress, tables."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from facewise.errors import FacewiseError

F = TypeVar("F", bound=Callable[..., Any])


def printable(text: str) -> str:
    """``text`` as valid UTF-8 for the terminal: a non-UTF-8 file name (lone surrogates from the
    OS) shows U+FFFD instead of failing the command."""
    from facewise.gallery.audit import safe_text

    return safe_text(text)


def emit_json(obj: Any) -> None:
    click.echo(printable(json.dumps(obj, ensure_ascii=False)))


def fail(error: FacewiseError, as_json: bool) -> None:
    if as_json:
        emit_json({"error": error.to_dict()})
    else:
        click.echo(printable(f"error: {error.message}"), err=True)
    sys.exit(error.exit_code)


def handle_errors(func: F) -> F:
    """Turn FacewiseError into its exit code and message; anything else into exit 1 without a
    traceback (set FACEWISE_DEBUG=1 to see it)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return func(*args, **kwargs)
        except FacewiseError as exc:
            fail(exc, as_json)
        except (KeyboardInterrupt, click.exceptions.Exit, click.ClickException):
            raise
        except Exception as exc:  # the last line of defence: report, never a traceback
            if os.environ.get("FACEWISE_DEBUG"):
                raise
            fail(FacewiseError(f"internal error: {type(exc).__name__}: {exc}"), as_json)

    return wrapper  # type: ignore[return-value]


def progress(items: list[str], *, quiet: bool, label: str) -> Iterator[str]:
    """Iterate with a progress bar on stderr for runs over several images on a terminal."""
    if quiet or len(items) < 2 or not sys.stderr.isatty():
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=label, console=_stderr_console(), transient=True)


@functools.cache
def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def print_table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*[str(v) for v in row])
    Console().print(table)


def engine_from(**options: Any) -> Any:
    from facewise.engine import Engine
    from facewise.settings import load_settings

    settings = load_settings(**{k: v for k, v in options.items() if v is not None})
    return Engine(settings)


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
detector_option = click.option(
    "--detector",
    default=None,
    help="Detector: hog, mmod, mtcnn, or a cascade like hog+mtcnn (default: the embedding "
    "model's own, hog+mtcnn for dlib-resnet, mtcnn for facenet).",
)
model_option = click.option(
    "--model",
    "embedder",
    default=None,
    help="Embedding model: dlib-resnet (default), facenet, or onnx:FILE, your own ONNX model "
    "with its card FILE.json (README, 'Your own model').",
)


def run_per_input(
    paths: list[str],
    quiet: bool,
    label: str,
    work: Callable[[str], dict[str, Any]],
    as_json: bool,
    show: Callable[[str, dict[str, Any]], None],
) -> None:
    """Run ``work`` on every input; an input that fails is reported and the rest go on."""
    first_code = 0
    for path in progress(paths, quiet=quiet, label=label):
        try:
            result = {"path": path, **work(path)}
        except FacewiseError as exc:
            first_code = first_code or exc.exit_code
            result = {"path": path, "error": exc.to_dict()}
        if as_json:
            emit_json(result)
        elif "error" in result:
            click.echo(printable(f"{path}: error: {result['error']['message']}"), err=True)
        else:
            show(path, result)
    sys.exit(first_code)


def output_path(draw: str, source: str, many: bool) -> Path:
    """Where ``--draw`` writes: the path itself for one input, a file inside it for several."""
    target = Path(draw)
    if not many:
        return target
    target.mkdir(parents=True, exist_ok=True)
    return target / (Path(source).stem + "_faces.png")
