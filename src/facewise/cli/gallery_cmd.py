"""Gallery commands: enroll, enroll-dir, identify, people, gallery, forget, audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facewise.cli.common import (
    emit_json,
    handle_errors,
    json_option,
    print_table,
    printable,
    quiet_option,
    run_per_input,
)
from facewise.serialize import (
    audit_events_dict,
    audit_verify_dict,
    enroll_dict,
    identification_dict,
    people_dict,
    person_dict,
)


def open_gallery(**options: Any) -> Any:
    from facewise.engine import Engine
    from facewise.gallery import Gallery
    from facewise.settings import load_settings

    settings = load_settings(**{k: v for k, v in options.items() if v is not None})
    return Gallery.from_settings(settings, Engine(settings))


def actor() -> str:
    """Who the audit log and the samples name for a CLI write: ``cli``. Not the OS account: the
    log and the samples are readable through the service, and an account name is personal data
    about the operator that API clients have no need for."""
    return "cli"


@click.command("enroll")
@click.option(
    "--person",
    required=True,
    help="The person's name (the same rule as the service: see README, 'Names').",
)
@click.argument("images", nargs=-1, required=True)
@click.option(
    "--consent",
    default="unspecified",
    help="Consent basis recorded with every sample (e.g. 'signed form 2026-11-30').",
)
@click.option("--source", default=None, help="Provenance note (default: the file's base name).")
@click.option("--expires", default=None, help="Date after which the samples are purged.")
@click.option("--largest", is_flag=True, help="Use the largest face of multi-face photos.")
@click.option(
    "--liveness",
    "with_liveness",
    is_flag=True,
    help="Refuse a face the liveness check judges a presentation attack (exit 11).",
)
@json_option
@handle_errors
def enroll(
    person: str,
    images: tuple[str, ...],
    consent: str,
    source: str | None,
    expires: str | None,
    largest: bool,
    with_liveness: bool,
    as_json: bool,
) -> None:
    """Enroll PERSON from one face in each image (already-enrolled images are skipped)."""
    with open_gallery() as gallery:
        result = gallery.enroll(
            person,
            list(images),
            consent=consent,
            source=source,
            expires_at=expires,
            actor=actor(),
            largest=largest,
            liveness=with_liveness,
        )
    out = enroll_dict(result)
    if as_json:
        emit_json(out)
    else:
        click.echo(f"{person}: {result.enrolled} sample(s) enrolled, {len(result.skipped)} skipped")
        for item in result.skipped:
            click.echo(printable(f"  skipped {item['image']}: {item['reason']}"))
    failed = [item["code"] for item in result.skipped if "code" in item]
    if result.enrolled == 0 and failed:  # nothing usable: say so in the exit code too
        from facewise.errors import exit_code_for

        raise SystemExit(exit_code_for(failed[0]))


@click.command("enroll-dir")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--consent", default="unspecified", help="Consent basis for every sample.")
@click.option("--expires", default=None, help="Date after which the samples are purged.")
@click.option(
    "--engine",
    "executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: a process pool; ray: Ray Data.",
)
@click.option("--workers", type=int, default=None, help="Processes (default: all cores).")
@click.option(
    "--ray-address",
    default=None,
    help="Join this Ray cluster (implies --engine ray; else RAY_ADDRESS, the ray_address setting).",
)
@json_option
@quiet_option
@handle_errors
def enroll_dir(
    folder: Path,
    consent: str,
    expires: str | None,
    executor: str,
    workers: int | None,
    ray_address: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Enrol every person in FOLDER (one sub-folder per person). Resumable: images already
    enrolled (same bytes) are skipped."""
    from facewise.gallery.batch import enrol_folder

    with open_gallery() as gallery:
        summary = enrol_folder(
            gallery,
            folder,
            consent=consent,
            expires_at=expires,
            executor=executor,
            workers=workers,
            progress=not quiet,
            enrolled_by=actor(),
            address=ray_address,
        )
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"{summary['people']} people, {summary['enrolled']} samples enrolled, "
            f"{summary['skipped']} skipped, {summary['failed']} failed "
            f"({summary['faces_per_second']:.1f} faces/s)"
        )


@click.command("identify")
@click.argument("images", nargs=-1, required=True)
@click.option("--top", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes that detect and embed (each loads the models once).",
)
@click.option("--liveness", "with_liveness", is_flag=True, help="Add each face's liveness verdict.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append one JSON line per photo here; a rerun skips photos (by sha256) already in it.",
)
@click.option(
    "--ray-address",
    default=None,
    help="Run the photos on this Ray cluster (with --output; else RAY_ADDRESS, the setting).",
)
@json_option
@quiet_option
@handle_errors
def identify(
    images: tuple[str, ...],
    top: int,
    workers: int,
    with_liveness: bool,
    output: Path | None,
    ray_address: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Who is in each image? IMAGES are files and folders (searched recursively for images).
    Every face: the top people and a decision (a person, or unknown) at the gallery's calibrated
    threshold; with --liveness, each face's liveness verdict too (the bundled passive model).
    One JSON line per image with --json; an image that fails is reported and the rest go on
    (the exit code is the first failure's)."""
    from facewise.errors import FacewiseError
    from facewise.gallery.batch import expand_images, faces_in_files
    from facewise.serialize import liveness_field

    paths = expand_images(images)
    if output is not None or ray_address:
        _identify_to_file(paths, output, top, workers, ray_address, with_liveness, as_json)
        return
    with open_gallery() as gallery:
        gallery.threshold()  # an uncalibrated space or a bad gallery fails here, once
        found = faces_in_files(gallery.engine, paths, workers=workers)

        def work(path: str) -> dict[str, Any]:
            item = next(found)
            if isinstance(item, FacewiseError):
                raise item
            digest, faces = item
            results = gallery.identify_faces(faces, top=top, actor=actor(), image_sha256=digest)
            out = [identification_dict(r) for r in results]
            if with_liveness and results:
                from facewise.liveness import check

                image = gallery.engine.load_image(path)
                judged = check(image, [r.face.detection for r in results])
                for face, verdict in zip(out, judged, strict=True):
                    face["liveness"] = liveness_field(verdict)
            return {"faces": out}

        run_per_input(paths, quiet, "identifying", work, as_json, _show_identified)


def _identify_to_file(
    paths: list[str],
    output: Path | None,
    top: int,
    workers: int,
    ray_address: str | None,
    with_liveness: bool,
    as_json: bool,
) -> None:
    """The batch job (``gallery.cluster_jobs.identify_tree``): JSON lines into ``output``."""
    from facewise.errors import InvalidInput
    from facewise.gallery.cluster_exec import ray_address as address_for
    from facewise.gallery.cluster_jobs import identify_tree

    if output is None:
        raise InvalidInput("--ray-address writes its answers to a file: add --output FILE")
    if with_liveness:
        raise InvalidInput("--liveness is not available with --output (the batch job)")
    with open_gallery() as gallery:
        address = address_for(ray_address, gallery.engine.settings.ray_address)
        summary = identify_tree(
            gallery,
            paths,
            output,
            top=top,
            actor=actor(),
            executor="ray" if address else "local",
            workers=workers,
            address=address,
        )
    _done(
        as_json,
        summary,
        f"{summary['identified']} photos identified into {output}, {summary['skipped']} "
        f"already there, {summary['failed']} failed ({summary['photos_per_second']:.1f} photos/s)",
    )


def _show_identified(path: str, result: dict[str, Any]) -> None:
    if not result["faces"]:
        click.echo(f"{path}: no face found")
    for face in result["faces"]:
        d = face["decision"]
        who = d["person"] if d["accepted"] else "unknown"
        odds = d["fpir_at_score"]
        chance = f", a stranger scores this high 1 time in {1 / odds:,.0f}" if odds else ""
        live = face.get("liveness")
        verdict = "" if live is None else f", {'live' if live['live'] else 'attack'}"
        click.echo(
            f"{path} {face['bbox']}: {who} (score {d['score']}, threshold {d['threshold']} "
            f"for {d['gallery_size']} people{chance}){verdict}"
        )


@click.group("people")
def people() -> None:
    """List, show, rename, merge or remove enrolled people."""


@people.command("list")
@json_option
@handle_errors
def people_list(as_json: bool) -> None:
    with open_gallery() as gallery:
        rows = gallery.people()
    if as_json:
        emit_json(people_dict(rows))
    else:
        print_table(
            "people",
            ["name", "samples", "enrolled since"],
            [[p.name, p.samples, p.created_at] for p in rows],
        )


@people.command("show")
@click.argument("name")
@json_option
@handle_errors
def people_show(name: str, as_json: bool) -> None:
    with open_gallery() as gallery:
        person = gallery.require(name)
        shown = person_dict(person, gallery.samples_of(person.name))
    samples = shown["samples"]
    if as_json:
        emit_json(shown)
    else:
        print_table(
            f"{shown['name']}: {len(samples)} sample(s)",
            ["id", "source", "consent", "enrolled", "by", "expires", "quality"],
            [
                [
                    s["id"],
                    s["source"],
                    s["consent"],
                    s["enrolled_at"],
                    s["enrolled_by"],
                    s["expires_at"] or "",
                    s["quality"],
                ]
                for s in samples
            ],
        )


@people.command("rename")
@click.argument("old")
@click.argument("new")
@json_option
@handle_errors
def people_rename(old: str, new: str, as_json: bool) -> None:
    with open_gallery() as gallery:
        person = gallery.rename(old, new, actor=actor())
    _done(as_json, {"renamed": old, "to": person.name}, f"{old} is now {person.name}")


@people.command("merge")
@click.argument("source")
@click.argument("target")
@json_option
@handle_errors
def people_merge(source: str, target: str, as_json: bool) -> None:
    """Move every sample of SOURCE to TARGET and remove SOURCE."""
    with open_gallery() as gallery:
        person = gallery.merge(source, target, actor=actor())
    _done(
        as_json,
        {"merged": source, "into": person.name, "samples": person.samples},
        f"{source} merged into {person.name} ({person.samples} samples)",
    )


@people.command("remove")
@click.argument("name")
@json_option
@handle_errors
def people_remove(name: str, as_json: bool) -> None:
    """Remove a person and their samples (use `facewise forget` for a verified erasure)."""
    with open_gallery() as gallery:
        removed = gallery.remove(name, actor=actor())
    _done(as_json, {"removed": name, "samples": removed}, f"{name}: {removed} sample(s) removed")


@click.group("gallery")
def gallery_group() -> None:
    """Gallery maintenance: stats, rebuild-index, purge-expired."""


@gallery_group.command("stats")
@json_option
@handle_errors
def gallery_stats(as_json: bool) -> None:
    with open_gallery() as gallery:
        stats = gallery.stats()
    if as_json:
        emit_json(stats)
    else:
        for key, value in stats.items():
            click.echo(f"{key}: {value}")


@gallery_group.command("rebuild-index")
@json_option
@handle_errors
def gallery_rebuild(as_json: bool) -> None:
    with open_gallery() as gallery:
        count = gallery.rebuild_index()
    _done(as_json, {"indexed": count}, f"index rebuilt: {count} vectors")


@gallery_group.command("purge-expired")
@json_option
@handle_errors
def gallery_purge(as_json: bool) -> None:
    with open_gallery() as gallery:
        count = gallery.purge_expired(actor=actor())
    _done(as_json, {"purged": count}, f"{count} expired sample(s) purged")


@click.command("forget")
@click.argument("person")
@json_option
@handle_errors
def forget(person: str, as_json: bool) -> None:
    """Erase PERSON everywhere and print the erasure receipt."""
    with open_gallery() as gallery:
        receipt = gallery.forget(person, actor=actor())
    if as_json:
        emit_json(receipt)
    else:
        probe = receipt["reprobe"]
        click.echo(
            f"{person}: {receipt['removed_samples']} sample(s) erased; re-probe with the "
            f"erased vectors: {probe['matched_forgotten_person']} match(es) under "
            f"{person!r}; receipt {receipt['receipt_sha256']}"
        )


@click.command("audit")
@click.option("--verify", is_flag=True, help="Check the hash chain for tampering.")
@click.option("--limit", type=int, default=50, show_default=True)
@json_option
@handle_errors
def audit(verify: bool, limit: int, as_json: bool) -> None:
    """The audit log (enrol, identify, forget, remove, ...); --verify checks its hash chain."""
    with open_gallery() as gallery:
        events = gallery.events()
    if verify:
        checked = audit_verify_dict(events)
        if as_json:
            emit_json(checked)
        else:
            click.echo(("ok: " if checked["ok"] else "TAMPERED: ") + checked["message"])
        raise SystemExit(0 if checked["ok"] else 8)
    shown = events[-limit:]
    if as_json:
        emit_json(audit_events_dict(shown))
    else:
        print_table(
            "audit log",
            ["seq", "at", "actor", "action", "subject"],
            [[e.seq, e.at, e.actor, e.action, e.subject] for e in shown],
        )


def _done(as_json: bool, obj: dict[str, Any], text: str) -> None:
    if as_json:
        emit_json(obj)
    else:
        click.echo(text)


COMMANDS = (enroll, enroll_dir, identify, people, gallery_group, forget, audit)
