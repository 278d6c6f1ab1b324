"""``facewise cluster``: organise a photo collection by person, then name the clusters.

``facewise cluster PATH... --collection DIR`` adds photos (files and folders) and clusters their
faces; the sub-commands show, name, merge, split, reject, confirm, move, suggest, recluster and
enrol. A first argument that is not a sub-command's name is a path (write ``./name`` for a photo
called ``name``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from facewise.cli.common import emit_json, handle_errors, json_option, printable, quiet_option

collection_option = click.option(
    "--collection",
    "folder",
    required=True,
    envvar="FACEWISE_COLLECTION",
    type=click.Path(file_okay=False),
    help="The collection's folder (created when missing; env FACEWISE_COLLECTION).",
)
ACTOR = "cli"


class _PathsByDefault(click.Group):
    """A group whose first argument, when not a sub-command, starts the ``add`` command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["add", *args]
        return super().parse_args(ctx, args)


@click.group("cluster", cls=_PathsByDefault)
def cluster() -> None:
    """Organise photos by person: `facewise cluster PATH... --collection DIR` adds photos and
    clusters their faces (people seen once stay unclustered); the sub-commands name and fix the
    clusters. Your decisions are never undone by later runs."""


@contextmanager
def open_collection(folder: str) -> Iterator[Any]:
    from facewise.cli.common import engine_from
    from facewise.cluster.collection import Collection

    with Collection(folder, engine_from()) as found:
        yield found


def _progress(quiet: bool) -> Callable[[Iterable[Any], int], Iterable[Any]] | None:
    if quiet or not sys.stderr.isatty():
        return None

    def bar(items: Iterable[Any], total: int) -> Iterable[Any]:
        from rich.progress import track

        from facewise.cli.common import _stderr_console

        return track(items, total=total, description="faces", console=_stderr_console())

    return bar


def _show(summary: dict[str, Any], as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        emit_json({**summary, **(extra or {})})
        return
    for c in summary["clusters"]:
        label = c["name"] or "(unnamed)"
        click.echo(printable(f"cluster {c['id']}: {label}, {c['size']} faces"))
    click.echo(f"{len(summary['unclustered'])} faces unclustered")


@cluster.command("add")
@click.argument("paths", nargs=-1, required=True)
@collection_option
@click.option("--workers", type=int, default=1, show_default=True, help="Processes embedding.")
@click.option(
    "--ray-address",
    default=None,
    help="Embed on this Ray cluster (the collection and the clustering stay here).",
)
@json_option
@quiet_option
@handle_errors
def add(
    paths: tuple[str, ...],
    folder: str,
    workers: int,
    ray_address: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Add photos (files, folders searched recursively) and cluster their faces."""
    from facewise.gallery.batch import expand_images

    with open_collection(folder) as coll:
        if ray_address:
            from facewise.cluster.distributed import add_tree

            report = add_tree(coll, expand_images(paths), workers=workers, address=ray_address)
        else:
            report = coll.add_paths(
                expand_images(paths), workers=workers, progress=_progress(quiet)
            )
        _show(coll.summary(), as_json, {"added": report.as_dict()})
    for error in report.errors if not as_json else []:
        click.echo(printable(f"{error['path']}: error: {error['error']['message']}"), err=True)
    if report.errors:
        from facewise.errors import exit_code_for

        sys.exit(exit_code_for(report.errors[0]["error"]["code"]))


@cluster.command("show")
@collection_option
@json_option
@handle_errors
def show(folder: str, as_json: bool) -> None:
    """The clusters and the unclustered faces."""
    with open_collection(folder) as coll:
        _show(coll.summary(), as_json)


def _decision(name: str, help_text: str, *args: click.Argument) -> Callable[..., Any]:
    """A sub-command that applies one user decision and prints the collection after it."""

    def wrap(apply: Callable[..., None]) -> Callable[..., Any]:
        @cluster.command(name, help=help_text)
        @collection_option
        @json_option
        @handle_errors
        def command(folder: str, as_json: bool, **values: Any) -> None:
            with open_collection(folder) as coll:
                apply(coll, **values)
                _show(coll.summary(), as_json)

        for arg in reversed(args):
            command.params.insert(0, arg)
        return command

    return wrap


def _id(name: str) -> click.Argument:
    return click.Argument([name], type=int)


@_decision(
    "name",
    "Name cluster ID (its faces are pinned there).",
    _id("cluster_id"),
    click.Argument(["name"]),
)
def name_cmd(coll: Any, cluster_id: int, name: str) -> None:
    coll.name(cluster_id, name, actor=ACTOR)


@_decision(
    "merge",
    "Merge cluster B into cluster A.",
    _id("a"),
    _id("b"),
)
def merge_cmd(coll: Any, a: int, b: int) -> None:
    coll.merge(a, b, actor=ACTOR)


@_decision(
    "split",
    "Move FACES of cluster ID into a new cluster.",
    _id("cluster_id"),
    click.Argument(["faces"], nargs=-1, required=True, type=int),
)
def split_cmd(coll: Any, cluster_id: int, faces: tuple[int, ...]) -> None:
    coll.split(cluster_id, list(faces), actor=ACTOR)


@_decision("reject", "Take FACE out of its cluster for good.", _id("face"))
def reject_cmd(coll: Any, face: int) -> None:
    coll.reject(face, actor=ACTOR)


@_decision("confirm", "Yes, FACE belongs to its cluster.", _id("face"))
def confirm_cmd(coll: Any, face: int) -> None:
    coll.confirm(face, actor=ACTOR)


@_decision(
    "move",
    "Put FACE into cluster ID.",
    _id("face"),
    _id("cluster_id"),
)
def move_cmd(coll: Any, face: int, cluster_id: int) -> None:
    coll.move(face, cluster_id, actor=ACTOR)


@_decision(
    "apart",
    "No, cluster B is not the person of cluster A: keep them apart for good.",
    _id("a"),
    _id("b"),
)
def apart_cmd(coll: Any, a: int, b: int) -> None:
    coll.keep_apart(a, b, actor=ACTOR)


@cluster.command("answer")
@click.argument("cluster_id", type=int)
@click.argument("reply", type=click.Choice(["yes", "no"]))
@click.option("--face", type=int, default=None, help="The face asked about.")
@click.option("--other", type=int, default=None, help="The cluster asked about.")
@collection_option
@json_option
@handle_errors
def answer(
    cluster_id: int,
    reply: str,
    face: int | None,
    other: int | None,
    folder: str,
    as_json: bool,
) -> None:
    """Answer a question of `facewise cluster suggest`: is FACE (or cluster OTHER) the person of
    cluster CLUSTER_ID? yes puts it there (or merges); no keeps it out for good."""
    with open_collection(folder) as coll:
        coll.answer(cluster_id, reply == "yes", face=face, other=other, actor=ACTOR)
        _show(coll.summary(), as_json)


@cluster.command("suggest")
@collection_option
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@json_option
@handle_errors
def suggest_cmd(folder: str, limit: int, as_json: bool) -> None:
    """Merge proposals and yes/no questions about faces, most useful first: each answer names
    the most faces it can. Answer with `facewise cluster answer`."""
    with open_collection(folder) as coll:
        found = coll.suggest(limit=limit)
    if as_json:
        emit_json(found)
        return
    for q in found["queue"]:
        about = f"cluster {q['other']} ({q['size']} faces)" if q["other"] else f"face {q['face']}"
        flag = f"--other {q['other']}" if q["other"] else f"--face {q['face']}"
        click.echo(
            printable(
                f"is {about} {q['name']}? {q['confidence']:.0%} yes -> "
                f"facewise cluster answer {q['cluster']} yes|no {flag}"
            )
        )
    if not found["queue"]:
        click.echo("no questions: name a cluster first, or every answer is already sure")


@_decision("recluster", "Cluster every face again, keeping your decisions.")
def recluster_cmd(coll: Any) -> None:
    coll.recluster(actor=ACTOR)


@cluster.command("enrol")
@click.argument("cluster_id", type=int)
@collection_option
@click.option("--consent", required=True, help="The consent basis recorded with every sample.")
@click.option("--expires", "expires_at", default=None, help="When the samples expire (ISO date).")
@json_option
@handle_errors
def enrol(
    folder: str, cluster_id: int, consent: str, expires_at: str | None, as_json: bool
) -> None:
    """Enrol named cluster ID into the gallery (FACEWISE_HOME) under its name."""
    from facewise.cli.gallery_cmd import open_gallery

    with open_collection(folder) as coll, open_gallery() as gallery:
        result = coll.enrol(
            cluster_id, gallery, consent=consent, expires_at=expires_at, actor=ACTOR
        )
    if as_json:
        emit_json(result)
    else:
        click.echo(printable(f"enrolled {result['enrolled']} faces as {result['person']}"))


COMMANDS = [cluster]
