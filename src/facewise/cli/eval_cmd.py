"""``facewise eval``: the evaluation lab. Each command prints a summary (or ``--json``) and writes
a self-contained HTML report with ``--report``; embeddings are cached (``--cache``).

Every command takes the options of :class:`EvalOptions` through one decorator,
:func:`eval_options`, and keeps only its own (the dataset, the protocol's parameters)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from facewise.cli.common import (
    detector_option,
    emit_json,
    handle_errors,
    json_option,
    model_option,
    quiet_option,
)
from facewise.settings import Settings, load_settings

if TYPE_CHECKING:
    from facewise.evaluate.cache import Pipeline
    from facewise.evaluate.datasets import PairSet
    from facewise.evaluate.result import LabResult

F = Callable[..., Any]


@dataclass(frozen=True)
class EvalOptions:
    """What every ``facewise eval`` command takes: the folder the images are relative to, the
    pipeline (``--model``, ``--detector``, ``--flip``), the embedding cache and its workers, what
    to print (``--json``, ``--quiet``) and write (``--report``); and, for the commands over a
    pairs file, the file and which of its pairs (``--pairs``, ``--folds``, ``--limit``)."""

    root: Path | None = None
    pairs_file: Path | None = None
    folds: str | None = None
    limit: int | None = None
    embedder: str | None = None
    detector: str | None = None
    flip: bool | None = None
    cache_dir: Path | None = None
    workers: int | None = None
    report_path: Path | None = None
    as_json: bool = False
    quiet: bool = False

    @functools.cached_property
    def settings(self) -> Settings:
        return load_settings()

    @property
    def lab(self) -> dict[str, Any]:
        """The keyword arguments every ``run_*`` protocol takes: settings, cache, workers."""
        return {"settings": self.settings, "cache_dir": self.cache_dir, "workers": self.workers}

    def pipeline(self) -> Pipeline:
        from facewise.evaluate.cache import resolve_pipeline

        return resolve_pipeline(
            detector=self.detector, embedder=self.embedder, flip=self.flip, settings=self.settings
        )

    def pairs(self, pairs_file: Path | None = None, limit: int | None = None) -> PairSet:
        """The pairs file (``--pairs`` unless given) under ``--root``, with ``--folds`` and
        ``--limit`` (unless given) applied."""
        from facewise.evaluate.datasets import DatasetError, load_pairs

        path = pairs_file or self.pairs_file
        limit = self.limit if limit is None else limit
        assert path is not None, "a command over pairs takes eval_options(pairs=True)"
        folds = self.folds
        try:
            wanted = [int(f) for f in folds.split(",") if f.strip()] if folds else None
        except ValueError:
            raise DatasetError(f"--folds: give fold numbers like 1,2,3, not {folds!r}") from None
        return load_pairs(path, self.root).select(folds=wanted, limit=limit)

    def run(self, protocol: Callable[..., LabResult], *args: Any, **kwargs: Any) -> None:
        """Run ``protocol(*args, **kwargs)`` with the lab's settings, cache and workers and with
        progress bars on stderr (unless ``--quiet`` or not a terminal; ``progress="label"``: one
        bar so labelled, else the protocol is given a bar per label), then :meth:`finish`."""
        label = kwargs.pop("progress", None)
        bars = _Bars(self.quiet)
        try:
            progress = bars(label) if label else bars
            result = protocol(*args, progress=progress, **kwargs, **self.lab)
        finally:
            if bars.progress is not None:
                bars.progress.stop()
        self.finish(result)

    def finish(self, result: LabResult) -> None:
        """Write the report if asked, then print the JSON or the text summary."""
        from facewise.evaluate.reports import summary

        data = result.to_dict()
        if self.report_path is not None:
            data["report"] = str(result.write_report(self.report_path))
        if self.as_json:
            emit_json(data)
            return
        for line in summary(result):
            click.echo(line)
        if self.report_path is not None:
            click.echo(f"report: {data['report']}")


_FILE = click.Path(dir_okay=False, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)
_ROOT = click.option(
    "--root",
    type=_DIR,
    help="Folder the image paths are relative to (default: the pairs file's or manifest's).",
)
_COMMON = (
    click.option("--flip/--no-flip", default=None, help="Test-time flip fusion."),
    click.option(
        "--cache",
        "cache_dir",
        type=_DIR,
        help="Embedding cache folder (default: FACEWISE_HOME/eval-cache).",
    ),
    click.option("--workers", type=int, help="Worker processes (default 2)."),
    click.option("--report", "report_path", type=_FILE, help="Write the HTML report here."),
    json_option,
    quiet_option,
)
_PAIRS = (
    click.option(
        "--pairs",
        "pairs_file",
        type=_FILE,
        required=True,
        help="Pairs: LFW pairs.txt, or a CSV with fold,path_a,path_b,same_identity.",
    ),
    click.option("--folds", help="Only these folds, e.g. 1,2,3."),
    click.option("--limit", type=int, help="At most N pairs (even over folds)."),
)
_FIELDS = ("root", "embedder", "detector", "flip", "cache_dir", "workers", "report_path")


def eval_options(*, pairs: bool = False, pipeline: bool = True) -> Callable[[F], F]:
    """The decorator of every ``facewise eval`` command: adds ``--pairs``, ``--folds`` and
    ``--limit`` (with ``pairs=True``), ``--root``, ``--model`` and ``--detector`` (unless
    ``pipeline=False``: commands that name several pipelines), ``--flip``, ``--cache``,
    ``--workers``, ``--report``, ``--json`` and ``--quiet``; calls the command with them as one
    :class:`EvalOptions` first and its own options as keywords; turns errors into exit codes
    (and JSON with ``--json``)."""
    options = (
        *(_PAIRS if pairs else ()),
        _ROOT,
        *((model_option, detector_option) if pipeline else ()),
        *_COMMON,
    )
    fields = (*_FIELDS, *(("pairs_file", "folds", "limit") if pairs else ()))

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            opts = EvalOptions(
                **{name: kwargs.pop(name, None) for name in fields},
                as_json=bool(kwargs.pop("as_json")),
                quiet=bool(kwargs.pop("quiet")),
            )
            if opts.report_path is not None:  # before the work, not after it
                from facewise import extras

                extras.check("eval")
            return func(opts, **kwargs)

        wrapped: F = handle_errors(command)
        for option in reversed(options):
            wrapped = option(wrapped)
        return wrapped

    return decorate


@click.group("eval")
def eval_group() -> None:
    """Evaluate: verification, identification, fairness, robustness, time budget, comparison,
    clustering, presentation-attack detection."""


class _Bars:
    """Progress bars on stderr (a new one per embedding run) when it is a terminal."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.progress: Any = None

    def __call__(self, label: str) -> Callable[[int, int], None] | None:
        if not self.enabled:
            return None
        task: list[Any] = []  # this run's bar, added on its first update

        def update(done: int, total: int) -> None:
            if total == 0:
                return
            if self.progress is None:
                from rich.progress import Progress

                from facewise.cli.common import _stderr_console

                self.progress = Progress(console=_stderr_console(), transient=True)
                self.progress.start()
            if not task:
                task.append(self.progress.add_task(f"embedding ({label})", total=total))
            self.progress.update(task[0], completed=done)

        return update


# --- commands ------------------------------------------------------------------------------------


@eval_group.command("verify")
@click.option("--scores", "scores_path", type=_FILE, help="Write every pair's score to this CSV.")
@click.option(
    "--bootstrap",
    "reps",
    type=int,
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the 95% intervals (0: none).",
)
@eval_options(pairs=True)
def verify_cmd(opts: EvalOptions, scores_path: Path | None, reps: int) -> None:
    """1:1 verification over a pairs file: k-fold accuracy, ROC, EER, TAR at FAR."""
    from facewise.evaluate.verify import run_verify

    pipeline = opts.pipeline()
    pairs = opts.pairs()
    opts.run(run_verify, pairs, pipeline, progress="pairs", reps=reps, scores_path=scores_path)


@eval_group.command("identify")
@click.option(
    "--manifest",
    type=_FILE,
    help="CSV with path, identity and any group columns (else: a folder per identity in --root).",
)
@click.option("--enrol", type=int, default=1, show_default=True, help="Photos enrolled per person.")
@click.option(
    "--min-photos",
    type=int,
    help="Enrol people with at least this many photos (default: enrol + 1).",
)
@click.option(
    "--template",
    type=click.Choice(["best", "mean"]),
    help="Gallery template rule (default: the settings').",
)
@click.option(
    "--sizes",
    default="0.1,0.25,0.5,1",
    show_default=True,
    help="Gallery sizes as shares of the people.",
)
@click.option("--limit", type=int, help="About N images (whole people, by name).")
@eval_options()
def identify_cmd(
    opts: EvalOptions,
    manifest: Path | None,
    enrol: int,
    min_photos: int | None,
    template: str | None,
    sizes: str,
    limit: int | None,
) -> None:
    """1:N identification through the gallery: CMC, FNIR at FPIR, gallery size."""
    from facewise.evaluate.datasets import load_labelled, parse_numbers
    from facewise.evaluate.identify import run_identify

    pipeline = opts.pipeline()
    labelled = load_labelled(manifest, opts.root)
    if limit:
        labelled = labelled.limit_people(limit)
    opts.run(
        run_identify,
        labelled,
        pipeline,
        enrol=enrol,
        min_photos=min_photos,
        template=template,
        sizes=parse_numbers(sizes, "--sizes") or [1.0],
        progress="images",
    )


@eval_group.command("fairness")
@click.option(
    "--manifest", type=_FILE, required=True, help="CSV with path, identity and the group column."
)
@click.option("--group", "group", required=True, help="The manifest column to group by.")
@click.option(
    "--pairs",
    "pairs_file",
    type=_FILE,
    help="Pairs file (default: all pairs of the manifest's images).",
)
@click.option("--threshold", type=float, help="The one threshold to use.")
@click.option(
    "--threshold-at",
    "operating_point",
    type=click.Choice(["fmr", "accuracy"]),
    help="A calibrated threshold of the space (default: fmr).",
)
@click.option(
    "--far", type=float, help="Set the threshold at this FAR over all impostor pairs evaluated."
)
@click.option(
    "--min-pairs",
    type=int,
    default=100,
    show_default=True,
    help="Fewer pairs of a kind than this: the group is too small to judge.",
)
@click.option(
    "--limit", type=int, help="All-pairs mode: about N images (whole people); pairs mode: N pairs."
)
@eval_options()
def fairness_cmd(
    opts: EvalOptions,
    manifest: Path,
    group: str,
    pairs_file: Path | None,
    threshold: float | None,
    operating_point: str | None,
    far: float | None,
    min_pairs: int,
    limit: int | None,
) -> None:
    """Per-group FMR and FNMR at one global threshold, ratios, intervals, warnings."""
    from facewise.evaluate.datasets import load_manifest
    from facewise.evaluate.fairness import run_fairness

    pipeline = opts.pipeline()
    labelled = load_manifest(manifest, opts.root)
    pairs = opts.pairs(pairs_file, limit) if pairs_file is not None else None
    if pairs is None and limit:
        labelled = labelled.limit_people(limit)
    opts.run(
        run_fairness,
        labelled,
        group,
        pipeline,
        pairs=pairs,
        threshold=threshold,
        operating_point=operating_point,
        far=far,
        min_pairs=min_pairs,
        progress="images",
    )


@eval_group.command("robustness")
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
    help="FAR for TAR (default: 1e-3 or the lowest the impostor pairs support).",
)
@eval_options(pairs=True)
def robustness_cmd(opts: EvalOptions, degradations: tuple[str, ...], far: float | None) -> None:
    """Accuracy and TAR at FAR as the probe images get smaller, blurrier, noisier..."""
    from facewise.evaluate.robustness import KINDS, parse_degradations, run_robustness

    pipeline = opts.pipeline()
    pairs = opts.pairs()
    todo = parse_degradations(list(degradations) or list(KINDS))
    opts.run(run_robustness, pairs, pipeline, degradations=todo, far=far)


@eval_group.command("budget")
@click.option("--detectors", default="hog,mtcnn,hog+mtcnn", show_default=True)
@click.option("--models", default="dlib-resnet,facenet", show_default=True)
@click.option("--flips", default="off,on", show_default=True, help="off, on or both.")
@click.option("--tiers", default="100,500,1000", show_default=True, help="Budgets in ms.")
@click.option("--time-images", type=int, default=30, show_default=True)
@click.option("--rounds", type=int, default=2, show_default=True)
@click.option(
    "--threads", type=int, default=1, show_default=True, help="Inference threads while timing."
)
@eval_options(pairs=True, pipeline=False)
def budget_cmd(
    opts: EvalOptions,
    detectors: str,
    models: str,
    flips: str,
    tiers: str,
    time_images: int,
    rounds: int,
    threads: int,
) -> None:
    """Best accuracy within 100, 500 and 1000 ms per face on this machine."""
    from facewise.evaluate.budget import parse_configurations, run_budget
    from facewise.evaluate.datasets import parse_numbers

    configs = parse_configurations(detectors, models, flips, flip=opts.flip, settings=opts.settings)
    pairs = opts.pairs()
    tier_values = [int(t) for t in parse_numbers(tiers, "--tiers") or []]
    opts.run(
        run_budget,
        pairs,
        configs,
        tiers_ms=tier_values,
        time_images=time_images,
        rounds=rounds,
        threads=threads,
        progress="configurations",
    )


@eval_group.command("compare")
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
@eval_options(pairs=True, pipeline=False)
def compare_cmd(opts: EvalOptions, systems: tuple[str, ...], fuse: bool, reps: int) -> None:
    """Systems side by side: overlaid ROC, a table, paired bootstrap CI of accuracy differences."""
    from facewise.evaluate.compare import parse_system, run_compare
    from facewise.evaluate.datasets import DatasetError

    if opts.flip is not None:
        raise DatasetError("compare: say flip or noflip in each --system, not --flip/--no-flip")
    pipelines = [parse_system(s, opts.settings) for s in systems]
    pairs = opts.pairs()
    opts.run(run_compare, pairs, pipelines, fuse=fuse, reps=reps, progress="systems")


@eval_group.command("cluster")
@click.argument("dataset", type=click.Path(exists=True, path_type=Path))
@click.option("--limit", type=int, help="About N images (whole people, by name).")
@click.option(
    "--target",
    type=float,
    default=0.99,
    show_default=True,
    help="Share of faces the simulated user names correctly.",
)
@click.option(
    "--false-links",
    type=float,
    help="Clustering: expected strangers per face above the link threshold (default 1).",
)
@click.option(
    "--immich-distance",
    type=float,
    help="Immich-style grouping's maxDistance (default: facewise's link threshold's distance).",
)
@eval_options()
def cluster_cmd(
    opts: EvalOptions,
    dataset: Path,
    limit: int | None,
    target: float,
    false_links: float | None,
    immich_distance: float | None,
) -> None:
    """Cluster a labelled dataset (a folder per identity, or a manifest CSV): BCubed, pairwise,
    NMI, strangers kept apart, and the clicks to name everyone (facewise, Immich-style, one by
    one)."""
    from facewise.cluster.algorithm import ClusterParams
    from facewise.evaluate.cluster import run_cluster
    from facewise.evaluate.datasets import load_folder, load_manifest

    pipeline = opts.pipeline()
    labelled = load_folder(dataset) if dataset.is_dir() else load_manifest(dataset, opts.root)
    if limit:
        labelled = labelled.limit_people(limit)
    params = ClusterParams() if false_links is None else ClusterParams(false_links=false_links)
    opts.run(
        run_cluster,
        labelled,
        pipeline,
        params=params,
        target=target,
        immich_distance=immich_distance,
        progress="images",
    )


COMMANDS = [eval_group]

from facewise.cli.eval_pad import pad_cmd  # noqa: E402  (eval pad lives in its own file)

eval_group.add_command(pad_cmd)
