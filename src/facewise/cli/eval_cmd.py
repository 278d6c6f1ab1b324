"""``facewise eval``: the evaluation lab. Each command prints a summary (or ``--json``) and writes
a self-contained HTML report with ``--report``; embeddings are cached (``--cache``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from facewise.cli.common import (
    detector_option,
    emit_json,
    handle_errors,
    json_option,
    model_option,
    quiet_option,
)
from facewise.settings import load_settings

F = Callable[..., Any]


def _options(*decorators: F) -> F:
    def apply(func: F) -> F:
        for d in reversed(decorators):
            func = d(func)
        return func

    return apply


root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder the image paths are relative to (default: the pairs file's or manifest's).",
)
pairs_option = click.option(
    "--pairs",
    "pairs_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Pairs: LFW pairs.txt, or a CSV with fold,path_a,path_b,same_identity.",
)
manifest_option = click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV with path, identity and any group columns (else: a folder per identity in --root).",
)
common = _options(
    click.option("--flip/--no-flip", default=None, help="Test-time flip fusion."),
    click.option(
        "--cache",
        "cache_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Embedding cache folder (default: FACEWISE_HOME/eval-cache).",
    ),
    click.option("--workers", type=int, default=None, help="Worker processes (default 2)."),
    click.option(
        "--report",
        "report_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write the HTML report here.",
    ),
    json_option,
    quiet_option,
)
pair_selection = _options(
    click.option("--folds", default=None, help="Only these folds, e.g. 1,2,3."),
    click.option("--limit", type=int, default=None, help="At most N pairs (even over folds)."),
)


@click.group("eval")
def eval_group() -> None:
    """Evaluate: verification, identification, fairness, robustness, time budget, comparison."""


# --- helpers -------------------------------------------------------------------------------------


class _Bars:
    """Progress bars on stderr (a new one per embedding run) when it is a terminal."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.progress: Any = None
        self.task: Any = None

    def __call__(self, label: str) -> Callable[[int, int], None] | None:
        if not self.enabled:
            return None
        started = False

        def update(done: int, total: int) -> None:
            nonlocal started
            if total == 0:
                return
            if self.progress is None:
                from rich.progress import Progress

                from facewise.cli.common import _stderr_console

                self.progress = Progress(console=_stderr_console(), transient=True)
                self.progress.start()
            if not started:
                self.task = self.progress.add_task(f"embedding ({label})", total=total)
                started = True
            self.progress.update(self.task, completed=done)

        return update

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def _bars(quiet: bool) -> Iterator[_Bars]:
    bars = _Bars(quiet)
    try:
        yield bars
    finally:
        bars.close()


def _pipeline(settings: Any, embedder: str | None, detector: str | None, flip: bool | None) -> Any:
    from facewise.evaluate.cache import resolve_pipeline

    return resolve_pipeline(detector=detector, embedder=embedder, flip=flip, settings=settings)


def _pairs(pairs_file: Path, root: Path | None, folds: str | None, limit: int | None) -> Any:
    from facewise.evaluate.datasets import DatasetError, load_pairs

    try:
        wanted = [int(f) for f in folds.split(",") if f.strip()] if folds else None
    except ValueError:
        raise DatasetError(f"--folds: give fold numbers like 1,2,3, not {folds!r}") from None
    return load_pairs(pairs_file, root).select(folds=wanted, limit=limit)


def _floats(text: str | None, what: str) -> list[float] | None:
    from facewise.evaluate.datasets import DatasetError

    if not text:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise DatasetError(f"{what}: give numbers separated by commas, not {text!r}") from None


def _finish(evaluation: Any, report_path: Path | None, as_json: bool, lines: list[str]) -> None:
    data = evaluation.to_dict()
    if report_path is not None:
        written = evaluation.write_report(report_path)
        data["report"] = str(written)
    if as_json:
        emit_json(data)
        return
    for line in lines:
        click.echo(line)
    if report_path is not None:
        click.echo(f"report: {data['report']}")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


# --- commands ------------------------------------------------------------------------------------


@eval_group.command("verify")
@pairs_option
@root_option
@model_option
@detector_option
@pair_selection
@click.option(
    "--scores",
    "scores_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write every pair's score to this CSV.",
)
@click.option(
    "--bootstrap",
    "reps",
    type=int,
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the 95% intervals (0: none).",
)
@common
@handle_errors
def verify_cmd(
    pairs_file: Path,
    root: Path | None,
    embedder: str | None,
    detector: str | None,
    folds: str | None,
    limit: int | None,
    scores_path: Path | None,
    reps: int,
    flip: bool | None,
    cache_dir: Path | None,
    workers: int | None,
    report_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """1:1 verification over a pairs file: k-fold accuracy, ROC, EER, TAR at FAR."""
    from facewise.evaluate.verify import run_verify

    settings = load_settings()
    pipeline = _pipeline(settings, embedder, detector, flip)
    pairs = _pairs(pairs_file, root, folds, limit)
    with _bars(quiet) as bars:
        ev = run_verify(
            pairs,
            pipeline,
            settings=settings,
            cache_dir=cache_dir,
            workers=workers,
            progress=bars("pairs"),
            reps=reps,
            scores_path=scores_path,
        )
    d = ev.to_dict()
    lines = [
        f"{pipeline.label}: {d['pairs']} pairs, folds {d['dataset']['folds']}",
        f"accuracy {_pct(d['accuracy'])} ± {_pct(d['accuracy_std'])}   AUC {d['auc']:.4f}   "
        f"EER {_pct(d['eer'])}",
        "TAR at FAR: "
        + ", ".join(f"{k}: {_pct(v)}" for k, v in d["tar_at_far"].items())
        + "".join(f"; {k}: not supported" for k in d["tar_at_far_unsupported"]),
        f"failed pairs {d['failed_pairs']} ({d['failed_images']} images without a face)",
    ]
    _finish(ev, report_path, as_json, lines)


@eval_group.command("identify")
@manifest_option
@root_option
@model_option
@detector_option
@click.option("--enrol", type=int, default=1, show_default=True, help="Photos enrolled per person.")
@click.option(
    "--min-photos",
    type=int,
    default=None,
    help="Enrol people with at least this many photos (default: enrol + 1).",
)
@click.option(
    "--template",
    type=click.Choice(["best", "mean"]),
    default=None,
    help="Gallery template rule (default: the settings').",
)
@click.option(
    "--sizes",
    default="0.1,0.25,0.5,1",
    show_default=True,
    help="Gallery sizes as shares of the people.",
)
@click.option("--limit", type=int, default=None, help="About N images (whole people, by name).")
@common
@handle_errors
def identify_cmd(
    manifest: Path | None,
    root: Path | None,
    embedder: str | None,
    detector: str | None,
    enrol: int,
    min_photos: int | None,
    template: str | None,
    sizes: str,
    limit: int | None,
    flip: bool | None,
    cache_dir: Path | None,
    workers: int | None,
    report_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """1:N identification through the gallery: CMC, FNIR at FPIR, gallery size."""
    from facewise.evaluate.datasets import load_labelled
    from facewise.evaluate.identify import run_identify

    settings = load_settings()
    pipeline = _pipeline(settings, embedder, detector, flip)
    labelled = load_labelled(manifest, root)
    if limit:
        labelled = labelled.limit_people(limit)
    with _bars(quiet) as bars:
        ev = run_identify(
            labelled,
            pipeline,
            enrol=enrol,
            min_photos=min_photos,
            template=template,
            sizes=_floats(sizes, "--sizes") or [1.0],
            settings=settings,
            cache_dir=cache_dir,
            workers=workers,
            progress=bars("images"),
        )
    d = ev.to_dict()
    lines = [
        f"{pipeline.label}: {d['enrolled_people']} people enrolled, {d['mated_probes']} mated / "
        f"{d['non_mated_probes']} non-mated probes",
        f"rank-1 {_pct(d['rank1'])}   rank-5 {_pct(d['cmc']['5'])}   "
        f"rank-20 {_pct(d['cmc']['20'])}",
        "FNIR at FPIR: " + ", ".join(f"{k}: {_pct(v)}" for k, v in d["fnir_at_fpir"].items()),
        "gallery size: "
        + ", ".join(f"{c['people']} people rank-1 {_pct(c['rank1'])}" for c in d["gallery_size"]),
    ]
    _finish(ev, report_path, as_json, lines)


@eval_group.command("fairness")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="CSV with path, identity and the group column.",
)
@click.option("--group", "group", required=True, help="The manifest column to group by.")
@click.option(
    "--pairs",
    "pairs_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Pairs file (default: all pairs of the manifest's images).",
)
@root_option
@model_option
@detector_option
@click.option("--threshold", type=float, default=None, help="The one threshold to use.")
@click.option(
    "--threshold-at",
    "operating_point",
    type=click.Choice(["fmr", "accuracy"]),
    default=None,
    help="A calibrated threshold of the space (default: fmr).",
)
@click.option(
    "--far",
    type=float,
    default=None,
    help="Set the threshold at this FAR over all impostor pairs evaluated.",
)
@click.option(
    "--min-pairs",
    type=int,
    default=100,
    show_default=True,
    help="Fewer pairs of a kind than this: the group is too small to judge.",
)
@click.option(
    "--limit",
    type=int,
    default=None,
    help="All-pairs mode: about N images (whole people); pairs mode: N pairs.",
)
@common
@handle_errors
def fairness_cmd(
    manifest: Path,
    group: str,
    pairs_file: Path | None,
    root: Path | None,
    embedder: str | None,
    detector: str | None,
    threshold: float | None,
    operating_point: str | None,
    far: float | None,
    min_pairs: int,
    limit: int | None,
    flip: bool | None,
    cache_dir: Path | None,
    workers: int | None,
    report_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Per-group FMR and FNMR at one global threshold, ratios, intervals, warnings."""
    from facewise.evaluate.datasets import load_manifest
    from facewise.evaluate.fairness import run_fairness

    settings = load_settings()
    pipeline = _pipeline(settings, embedder, detector, flip)
    labelled = load_manifest(manifest, root)
    pairs = _pairs(pairs_file, root, None, limit) if pairs_file is not None else None
    if pairs is None and limit:
        labelled = labelled.limit_people(limit)
    with _bars(quiet) as bars:
        ev = run_fairness(
            labelled,
            group,
            pipeline,
            pairs=pairs,
            threshold=threshold,
            operating_point=operating_point,
            far=far,
            min_pairs=min_pairs,
            settings=settings,
            cache_dir=cache_dir,
            workers=workers,
            progress=bars("images"),
        )
    d = ev.to_dict()
    lines = [
        f"{pipeline.label}: {d['pairs_source']}, threshold {d['threshold']:.4f} "
        f"({d['threshold_source']})"
    ]
    for r in d["groups"]:
        lines.append(
            f"  {r['group']}: FNMR {_pct(r['fnmr'])} of {r['genuine_pairs']:,}, "
            f"FMR {_pct(r['fmr'])} of {r['impostor_pairs']:,}"
            + (f"  [{'; '.join(r['warnings'])}]" if r["warnings"] else "")
        )
    for kind in ("fmr", "fnmr"):
        r = d[f"{kind}_ratio"]
        if r.get("max_group"):
            value = "unbounded" if r["value"] is None else f"{r['value']:.2f}x"
            lines.append(f"{kind.upper()} max/min: {value} ({r['max_group']} / {r['min_group']})")
        else:
            lines.append(f"{kind.upper()} max/min: {r['note']}")
    _finish(ev, report_path, as_json, lines)


@eval_group.command("robustness")
@pairs_option
@root_option
@model_option
@detector_option
@pair_selection
@click.option(
    "--degradation",
    "degradations",
    multiple=True,
    help="KIND[:S1,S2,...] (resolution, jpeg, blur, noise, brightness); repeatable; "
    "default: all kinds at their default severities.",
)
@click.option(
    "--far",
    type=float,
    default=None,
    help="FAR for TAR (default: 1e-3 or the lowest the impostor pairs support).",
)
@common
@handle_errors
def robustness_cmd(
    pairs_file: Path,
    root: Path | None,
    embedder: str | None,
    detector: str | None,
    folds: str | None,
    limit: int | None,
    degradations: tuple[str, ...],
    far: float | None,
    flip: bool | None,
    cache_dir: Path | None,
    workers: int | None,
    report_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Accuracy and TAR at FAR as the probe images get smaller, blurrier, noisier..."""
    from facewise.evaluate.robustness import KINDS, parse_degradations, run_robustness

    settings = load_settings()
    pipeline = _pipeline(settings, embedder, detector, flip)
    pairs = _pairs(pairs_file, root, folds, limit)
    todo = parse_degradations(list(degradations) or list(KINDS))
    with _bars(quiet) as bars:
        ev = run_robustness(
            pairs,
            pipeline,
            degradations=todo,
            far=far,
            settings=settings,
            cache_dir=cache_dir,
            workers=workers,
            progress=bars,
        )
    d = ev.to_dict()
    lines = [
        f"{pipeline.label}: clean accuracy {_pct(d['clean']['accuracy'])}, "
        f"TAR @ FAR {d['far_key']} {_pct(d['clean']['tar_at_far'])}"
    ]
    for deg in d["degradations"]:
        for r in deg["rows"]:
            lines.append(
                f"  {deg['kind']} {r['severity']:g}: accuracy {_pct(r['accuracy'])}, "
                f"TAR {_pct(r['tar_at_far'])}, probes without a face {r['failed_probes']}"
            )
    _finish(ev, report_path, as_json, lines)


@eval_group.command("budget")
@pairs_option
@root_option
@pair_selection
@click.option("--detectors", default="hog,mtcnn,hog+mtcnn", show_default=True)
@click.option("--models", default="dlib-resnet,facenet", show_default=True)
@click.option("--flips", default="off,on", show_default=True, help="off, on or both.")
@click.option("--tiers", default="100,500,1000", show_default=True, help="Budgets in ms.")
@click.option("--time-images", type=int, default=30, show_default=True)
@click.option("--rounds", type=int, default=2, show_default=True)
@click.option(
    "--threads", type=int, default=1, show_default=True, help="Inference threads while timing."
)
@common
@handle_errors
def budget_cmd(
    pairs_file: Path,
    root: Path | None,
    folds: str | None,
    limit: int | None,
    detectors: str,
    models: str,
    flips: str,
    tiers: str,
    time_images: int,
    rounds: int,
    threads: int,
    flip: bool | None,
    cache_dir: Path | None,
    workers: int | None,
    report_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Best accuracy within 100, 500 and 1000 ms per face on this machine."""
    from facewise.evaluate.budget import configurations, run_budget
    from facewise.evaluate.datasets import DatasetError

    settings = load_settings()
    flip_values = [f.strip() for f in flips.split(",") if f.strip()]
    if flip is not None:
        flip_values = ["on" if flip else "off"]
    if not flip_values or set(flip_values) - {"on", "off"}:
        raise DatasetError(f"--flips: on, off or off,on — not {flips!r}")
    configs = configurations(
        [d.strip() for d in detectors.split(",") if d.strip()],
        [m.strip() for m in models.split(",") if m.strip()],
        [f == "on" for f in flip_values],
        settings,
    )
    pairs = _pairs(pairs_file, root, folds, limit)
    tier_values = [int(t) for t in _floats(tiers, "--tiers") or []]
    with _bars(quiet) as bars:
        ev = run_budget(
            pairs,
            configs,
            tiers_ms=tier_values,
            time_images=time_images,
            rounds=rounds,
            threads=threads,
            settings=settings,
            cache_dir=cache_dir,
            workers=workers,
            progress=bars("configurations"),
        )
    d = ev.to_dict()
    lines = [
        f"{r['config']}: accuracy {_pct(r['accuracy'])}, {r['ms_per_face']:.1f} ms per face"
        for r in sorted(d["configs"], key=lambda r: r["ms_per_face"])
    ]
    for tier, best in d["tiers"].items():
        lines.append(
            f"<= {tier} ms: "
            + (f"{best['config']} {_pct(best['accuracy'])}" if best else "none fits")
        )
    _finish(ev, report_path, as_json, lines)


@eval_group.command("compare")
@pairs_option
@root_option
@pair_selection
@click.option(
    "--system",
    "systems",
    multiple=True,
    required=True,
    help="MODEL[/DETECTOR[/flip|noflip]] or default; give two or more.",
)
@click.option("--fuse", is_flag=True, help="Add the z-normalised score fusion of the systems.")
@click.option(
    "--bootstrap",
    "reps",
    type=int,
    default=1000,
    show_default=True,
    help="Paired bootstrap resamples.",
)
@common
@handle_errors
def compare_cmd(
    pairs_file: Path,
    root: Path | None,
    folds: str | None,
    limit: int | None,
    systems: tuple[str, ...],
    fuse: bool,
    reps: int,
    flip: bool | None,
    cache_dir: Path | None,
    workers: int | None,
    report_path: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Systems side by side: overlaid ROC, a table, paired bootstrap CI of accuracy differences."""
    from facewise.evaluate.compare import parse_system, run_compare
    from facewise.evaluate.datasets import DatasetError

    if flip is not None:
        raise DatasetError("compare: say flip or noflip in each --system, not --flip/--no-flip")
    settings = load_settings()
    pipelines = [parse_system(s, settings) for s in systems]
    pairs = _pairs(pairs_file, root, folds, limit)
    with _bars(quiet) as bars:
        ev = run_compare(
            pairs,
            pipelines,
            fuse=fuse,
            reps=reps,
            settings=settings,
            cache_dir=cache_dir,
            workers=workers,
            progress=bars("systems"),
        )
    d = ev.to_dict()
    lines = [
        f"{s['name']}: accuracy {_pct(s['accuracy'])} ± {_pct(s['accuracy_std'])}, "
        f"EER {_pct(s['eer'])}"
        for s in d["systems"]
    ]
    lines += [
        f"{x['system']} - baseline: {100 * x['accuracy_diff']:+.2f} pts "
        f"[{100 * x['ci95'][0]:+.2f}, {100 * x['ci95'][1]:+.2f}]"
        + (" significant" if x["significant"] else "")
        for x in d["differences"]
    ]
    _finish(ev, report_path, as_json, lines)


COMMANDS = [eval_group]
