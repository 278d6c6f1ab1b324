"""1:N identification through the real gallery: closed-set CMC and open-set FNIR against FPIR.

Protocol: of each person with at least ``min_photos`` usable photos, the first ``enrol`` photos
(sorted by path) are enrolled into a :class:`facewise.gallery.Gallery` on a temporary home (the
SQLite store, its vector index and template rule; vectors from the evaluation cache, every sample
weighted 1); their other photos are *mated* probes. People with exactly one usable photo are
*distractors*: never enrolled, probed as *non-mated* searches. A mated probe whose image gave no
face counts as a miss at every rank and threshold.

* CMC: the share of mated probes whose person is among the top r candidates (r = 1..20).
* FNIR at FPIR: the threshold is set so that at most FPIR of the non-mated probes have a top
  candidate at or above it; FNIR is the share of mated probes whose top candidate is not their
  person or scores below it.
* Gallery size: the same figures with a random share of the enrolled people (nested subsets).

Intervals: Clopper–Pearson 95% for rank-1 and FNIR (the FPIR threshold held fixed).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from facewise.evaluate import metrics
from facewise.evaluate.cache import Pipeline, Progress, embed_images, has_vector
from facewise.evaluate.datasets import DatasetError, Manifest
from facewise.evaluate.result import INTERNAL, LabResult
from facewise.settings import Settings, load_settings

if TYPE_CHECKING:
    from facewise.gallery.gallery import Template

FPIRS = (0.1, 0.01, 0.001)
RANKS = 20
SIZES = (0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True, kw_only=True, eq=False)
class IdentifyResult(LabResult):
    """The figures of one identification run, in the order ``--json`` prints them; the mated
    and non-mated scores are kept for the report's DET curve."""

    kind = "identify"
    dataset: dict[str, Any]
    pipeline: dict[str, Any]
    protocol: dict[str, Any]
    enrolled_people: int
    gallery_samples: int
    mated_probes: int
    non_mated_probes: int
    failed_images: int
    failed_mated_probes: int
    failures: list[dict[str, str]]
    rank1: float
    rank1_ci95: tuple[float, float]
    cmc: dict[str, float]
    fnir_at_fpir: dict[str, float]
    fnir_at_fpir_ci95: dict[str, tuple[float, float]]
    threshold_at_fpir: dict[str, float]
    fpir_unsupported: dict[str, str]
    gallery_size: list[dict[str, Any]]
    seed: int
    mated_scores: npt.NDArray[np.float64] = field(metadata=INTERNAL, repr=False)
    non_mated_top: npt.NDArray[np.float64] = field(metadata=INTERNAL, repr=False)


@dataclass(frozen=True, slots=True)
class OpenSet:
    """One open-set run: who was enrolled and what the gallery answered."""

    enrolled_people: int
    samples_per_person: int
    mated_probes: int
    non_mated_probes: int
    failed_mated_probes: int
    ranks: npt.NDArray[np.int64]
    """Per mated probe: the 1-based rank of its person among the candidates (0 = not found)."""
    mated_scores: npt.NDArray[np.float64]
    """Per mated probe: the top candidate's score when it is the right person, else −∞."""
    non_mated_top: npt.NDArray[np.float64]
    """Per non-mated probe: the top candidate's score."""

    def cmc(self, rank: int) -> float:
        return float(np.mean((self.ranks >= 1) & (self.ranks <= rank)))

    def threshold(self, fpir: float) -> float:
        return metrics.threshold_at_fmr(self.non_mated_top, fpir)

    def fnir(self, threshold: float) -> float:
        return float(1 - np.mean(self.mated_scores >= threshold))


def split_people(
    usable: npt.NDArray[np.bool_], people: Sequence[str], *, min_photos: int
) -> tuple[dict[str, list[int]], list[int]]:
    """(enrolled person -> their usable rows in order, distractor rows): people with at least
    ``min_photos`` usable photos, and the one photo of each person with exactly one."""
    by_person: dict[str, list[int]] = defaultdict(list)
    for i, who in enumerate(people):
        if usable[i]:
            by_person[who].append(i)
    enrolled = {p: idx for p, idx in by_person.items() if len(idx) >= min_photos}
    distractors = [idx[0] for p, idx in by_person.items() if len(idx) == 1]
    return enrolled, distractors


def open_set(
    vectors: npt.NDArray[np.float32],
    people: Sequence[str],
    *,
    enrol: int,
    min_photos: int,
    template: str,
    pipeline: Pipeline,
    settings: Settings | None = None,
    top: int = RANKS,
    keep_people: set[str] | None = None,
    count_failures: bool = True,
) -> OpenSet:
    """Enrol, probe and rank through a Gallery on a temporary home. ``vectors`` (N, D) float32
    (NaN rows: no face), ``people`` the identity of each row. ``keep_people`` restricts the
    enrolled people (gallery-size runs). With ``count_failures``, images of enrolled people that
    gave no face are mated probes that miss; without it they are left out."""
    from facewise.gallery import Gallery
    from facewise.gallery.records import NewSample

    usable = has_vector(vectors)
    enrolled, distractors = split_people(usable, people, min_photos=min_photos)
    if keep_people is not None:
        enrolled = {p: idx for p, idx in enrolled.items() if p in keep_people}
    if not enrolled:
        raise DatasetError(f"no person has {min_photos} or more photos with a face to enrol")
    if not distractors:
        raise DatasetError("no distractors: open-set figures need people with one photo")
    mated = [(p, i) for p, idx in enrolled.items() for i in idx[enrol:]]
    failed = (
        [i for i, who in enumerate(people) if not usable[i] and who in enrolled]
        if count_failures
        else []
    )
    settings = settings or load_settings()
    engine = pipeline.engine(settings)  # the gallery checks vectors against its space
    with _quiet_new_index(), tempfile.TemporaryDirectory(prefix="facewise-eval-") as home:
        # a str from settings or the CLI: run_identify checked it, and Gallery refuses others
        gallery = Gallery(Path(home), engine, template=cast("Template", template))
        try:
            for person, idx in enrolled.items():
                samples = [
                    NewSample(vectors[i], f"{i:08d}", f"eval:{i}", 1.0, (0, 0, 1, 1))
                    for i in idx[:enrol]
                ]
                gallery.add_samples(
                    person,
                    samples,
                    [],
                    consent="research evaluation",
                    expires_at=None,
                    enrolled_by="facewise eval",
                )
            mated_ranked = gallery.rank(vectors[[i for _, i in mated]], top=top) if mated else []
            non_mated = gallery.rank(vectors[distractors], top=1)
        finally:
            gallery.close()
    truth = [p for p, _ in mated]
    ranks, scores = [], []
    for cands, person in zip(mated_ranked, truth, strict=True):
        names = [c.person for c in cands]
        ranks.append(names.index(person) + 1 if person in names else 0)
        scores.append(cands[0].score if cands and cands[0].person == person else -np.inf)
    ranks += [0] * len(failed)
    scores += [-np.inf] * len(failed)
    return OpenSet(
        enrolled_people=len(enrolled),
        samples_per_person=enrol,
        mated_probes=len(mated) + len(failed),
        non_mated_probes=len(distractors),
        failed_mated_probes=len(failed),
        ranks=np.array(ranks, dtype=np.int64),
        mated_scores=np.array(scores, dtype=np.float64),
        non_mated_top=np.array([c[0].score if c else -np.inf for c in non_mated]),
    )


@contextlib.contextmanager
def _quiet_new_index() -> Iterator[None]:
    """A fresh temporary gallery has no index file yet: drop the index's "missing, will be
    rebuilt" warning while one is in use (that is expected here, not news)."""
    logger = logging.getLogger("facewise.gallery.index")

    def keep(record: logging.LogRecord) -> bool:
        return "is missing" not in record.getMessage()

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def fpir_figures(run: OpenSet, fpirs: Sequence[float]) -> dict[str, Any]:
    supported = [f for f in fpirs if metrics.far_supported(run.non_mated_probes, f)]
    out: dict[str, Any] = {
        "fnir_at_fpir": {},
        "fnir_at_fpir_ci95": {},
        "threshold_at_fpir": {},
        "fpir_unsupported": {
            f"{f:g}": f"needs at least {metrics.min_impostors_for(f):,} non-mated probes; "
            f"there are {run.non_mated_probes:,}"
            for f in fpirs
            if f not in supported
        },
    }
    for f in supported:
        thr = run.threshold(f)
        misses = int(np.sum(run.mated_scores < thr))
        out["fnir_at_fpir"][f"{f:g}"] = run.fnir(thr)
        out["fnir_at_fpir_ci95"][f"{f:g}"] = metrics.clopper_pearson(misses, run.mated_probes)
        out["threshold_at_fpir"][f"{f:g}"] = thr
    return out


def run_identify(
    manifest: Manifest,
    pipeline: Pipeline,
    *,
    enrol: int = 1,
    min_photos: int | None = None,
    template: str | None = None,
    sizes: Sequence[float] = SIZES,
    fpirs: Sequence[float] = FPIRS,
    settings: Settings | None = None,
    cache_dir: Path | str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    seed: int = 0,
) -> IdentifyResult:
    """Embed the manifest's images (cached) and run the open-set protocol, then the gallery-size
    runs."""
    if enrol < 1:
        raise DatasetError("enrol at least one photo per person")
    settings = settings or load_settings()
    template = template or settings.template
    if template not in ("best", "mean"):
        raise DatasetError(f"template must be best or mean, got {template!r}")
    min_photos = min_photos or enrol + 1
    [embedded] = embed_images(
        manifest.root,
        manifest.paths,
        [pipeline],
        cache_dir=cache_dir,
        settings=settings,
        workers=workers,
        progress=progress,
    )
    rows = embedded.rows(manifest.paths)
    vectors = embedded.vectors[rows]
    common = {"enrol": enrol, "min_photos": min_photos, "template": template}

    def protocol(keep: set[str] | None) -> OpenSet:
        return open_set(
            vectors,
            manifest.identities,
            enrol=enrol,
            min_photos=min_photos,
            template=template,
            pipeline=pipeline,
            settings=settings,
            keep_people=keep,
        )

    full = protocol(None)
    usable = has_vector(vectors)
    everyone = sorted(split_people(usable, manifest.identities, min_photos=min_photos)[0])
    order = [everyone[i] for i in np.random.default_rng(seed).permutation(len(everyone))]
    curve = []
    for share in sorted(set(sizes)):
        n = max(1, round(share * len(order)))
        run = full if n >= len(order) else protocol(set(order[:n]))
        curve.append(
            {
                "share": share,
                "people": run.enrolled_people,
                "mated_probes": run.mated_probes,
                "rank1": run.cmc(1),
                **fpir_figures(run, fpirs),
            }
        )
    failures = embedded.failures()
    rank1_hits = int(np.sum(full.ranks == 1))
    return IdentifyResult(
        dataset={
            "source": manifest.source,
            "root": str(manifest.root),
            "images": len(manifest),
            "people": len(set(manifest.identities)),
        },
        pipeline={**pipeline.as_dict(), "space": embedded.space.as_dict()},
        protocol={
            **common,
            "distractors": "people with exactly one usable photo, never enrolled",
            "sample_weight": 1.0,
        },
        enrolled_people=full.enrolled_people,
        gallery_samples=full.enrolled_people * enrol,
        mated_probes=full.mated_probes,
        non_mated_probes=full.non_mated_probes,
        failed_images=len(failures),
        failed_mated_probes=full.failed_mated_probes,
        failures=failures[:100],
        rank1=full.cmc(1),
        rank1_ci95=metrics.clopper_pearson(rank1_hits, full.mated_probes),
        cmc={str(r): full.cmc(r) for r in range(1, RANKS + 1)},
        **fpir_figures(full, fpirs),
        gallery_size=curve,
        seed=seed,
        mated_scores=full.mated_scores,
        non_mated_top=full.non_mated_top,
    )


def det_points(
    mated_scores: npt.NDArray[np.float64], non_mated_top: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(FPIR, FNIR) at every threshold among the scores."""
    finite = np.concatenate([mated_scores, non_mated_top])
    thresholds = np.unique(finite[np.isfinite(finite)])
    nm, m = np.sort(non_mated_top), np.sort(mated_scores)
    fpir = 1 - np.searchsorted(nm, thresholds, side="left") / len(nm)
    fnir = np.searchsorted(m, thresholds, side="left") / len(m)
    return fpir, fnir
