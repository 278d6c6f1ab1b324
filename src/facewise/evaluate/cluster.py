"""Organising a collection by person: how well the clustering matches the identities, and how
many clicks a user needs to name everyone.

Protocol: every image of a labelled dataset (a folder per identity, or a manifest) is embedded
(the evaluation cache); the faces found form one collection, clustered with the defaults
(:func:`facewise.cluster.algorithm.cluster_vectors`, thresholds from the space's calibrated
non-mated model). Images without a face are left out (counted in ``failed_images``).

* Clustering figures (:mod:`facewise.cluster.metrics`): BCubed and pairwise precision, recall
  and F, NMI; clusters against identities; a face left unclustered counts as a cluster of one.
* Strangers: of the people seen once, how many stayed unclustered (``singletons``).
* Labelling (:mod:`facewise.cluster.labeller`): the simulated user's actions until ``target``
  of the faces carry the right name, for facewise (clusters + suggestions), Immich's grouping
  and naming faces one by one, in both scenarios (``all``: everyone named; ``recurring``: only
  people seen twice or more, strangers correct when unnamed). Immich's ``maxDistance`` defaults
  to the cosine distance of facewise's own link threshold (the same false-match budget), so the
  two group at the same strictness; ``immich_distance`` sets another (tuned elsewhere).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.cluster import labeller, metrics
from facewise.cluster.algorithm import ClusterParams, cluster_vectors, link_threshold
from facewise.evaluate.cache import Pipeline, Progress, embed_images, has_vector
from facewise.evaluate.datasets import DatasetError, Manifest
from facewise.evaluate.result import INTERNAL, LabResult
from facewise.settings import Settings, load_settings

WORKFLOWS = ("facewise", "immich", "naive")


@dataclass(frozen=True, kw_only=True, eq=False)
class ClusterResult(LabResult):
    """The figures of one clustering run, in the order ``--json`` prints them; the labels and
    the per-action curves are kept for the report."""

    kind = "cluster"
    dataset: dict[str, Any]
    pipeline: dict[str, Any]
    protocol: dict[str, Any]
    faces: int
    failed_images: int
    identities: int
    clusters: int
    unclustered: int
    scores: dict[str, Any]
    singletons: dict[str, Any]
    cluster_sizes: dict[str, dict[str, int]]
    labelling: list[dict[str, Any]]
    comparison: dict[str, dict[str, Any]]
    seconds: dict[str, float]
    labels: npt.NDArray[np.int64] = field(metadata=INTERNAL, repr=False)
    truth: list[str] = field(metadata=INTERNAL, repr=False)
    curves: dict[str, npt.NDArray[np.int64]] = field(metadata=INTERNAL, repr=False)

    def run(self, workflow: str, scenario: str) -> dict[str, Any]:
        for r in self.labelling:
            if r["workflow"] == workflow and r["scenario"] == scenario:
                return r
        raise KeyError((workflow, scenario))


def size_histogram(labels: npt.ArrayLike) -> dict[str, int]:
    """Cluster size -> how many clusters of that size (unclustered ``-1`` faces are clusters of
    one each)."""
    sizes = Counter(Counter(metrics.singletons_apart(labels).tolist()).values())
    return {str(k): int(sizes[k]) for k in sorted(sizes)}


def singleton_figures(labels: npt.NDArray[np.int64], truth: Sequence[str]) -> dict[str, Any]:
    """People seen once: how many, and how many of them were left unclustered."""
    counts = Counter(truth)
    once = np.array([counts[t] == 1 for t in truth], dtype=bool)
    kept = int(np.sum(once & (labels < 0)))
    total = int(once.sum())
    return {
        "people_seen_once": total,
        "kept_alone": kept,
        "kept_alone_share": kept / total if total else None,
        "recurring_faces_unclustered": int(np.sum(~once & (labels < 0))),
    }


def compare_runs(runs: Sequence[labeller.LabellingRun]) -> dict[str, dict[str, Any]]:
    """Per scenario: each workflow's actions per named person, and facewise's ratios."""
    out: dict[str, dict[str, Any]] = {}
    for scenario in sorted({r.scenario for r in runs}):
        by = {r.workflow: r for r in runs if r.scenario == scenario}
        fw = by.get("facewise")
        row: dict[str, Any] = {f"{w}_actions_per_named_person": r.per_person for w, r in by.items()}
        row.update({f"{w}_actions": r.actions for w, r in by.items()})
        if fw is not None:
            for other in ("immich", "naive"):
                if other in by and by[other].actions:
                    row[f"facewise_over_{other}"] = fw.actions / by[other].actions
        out[scenario] = row
    return out


def run_cluster(
    manifest: Manifest,
    pipeline: Pipeline,
    *,
    params: ClusterParams | None = None,
    target: float = labeller.TARGET,
    scenarios: Sequence[labeller.Scenario] = labeller.SCENARIOS,
    immich_distance: float | None = None,
    immich_min_faces: int = labeller.IMMICH_MIN_FACES,
    settings: Settings | None = None,
    cache_dir: Any = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ClusterResult:
    """Embed the manifest's images (cached), cluster the faces, score the clustering and run the
    simulated labeller for each workflow and scenario."""
    from facewise.calibration import nonmated_model

    params = params or ClusterParams()
    settings = settings or load_settings()
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
    usable = has_vector(vectors)
    if int(usable.sum()) < 2:
        raise DatasetError(f"{manifest.source}: fewer than two images gave a face")
    v = np.ascontiguousarray(vectors[usable], dtype=np.float32)
    truth = [who for who, ok in zip(manifest.identities, usable.tolist(), strict=True) if ok]
    fmr = nonmated_model(embedded.space).table("mean", 1).fmr

    start = time.perf_counter()
    labels = cluster_vectors(v, fmr=fmr, params=params)
    cluster_seconds = time.perf_counter() - start
    scores = metrics.score(labels, truth)
    threshold = link_threshold(fmr, len(v), params)
    distance = immich_distance if immich_distance is not None else 1.0 - threshold

    runs: list[labeller.LabellingRun] = []
    start = time.perf_counter()
    for scenario in scenarios:
        runs.append(
            labeller.facewise_workflow(
                v, truth, fmr=fmr, scenario=scenario, target=target, params=params
            )
        )
        runs.append(
            labeller.immich_workflow(
                v,
                truth,
                max_distance=distance,
                min_faces=immich_min_faces,
                scenario=scenario,
                target=target,
            )
        )
        runs.append(labeller.naive_workflow(truth, scenario=scenario, target=target))
    labelling_seconds = time.perf_counter() - start
    failures = embedded.failures()
    return ClusterResult(
        dataset={
            "source": manifest.source,
            "root": str(manifest.root),
            "images": len(manifest),
            "people": len(set(manifest.identities)),
        },
        pipeline={**pipeline.as_dict(), "space": embedded.space.as_dict()},
        protocol={
            "params": {
                "false_links": params.false_links,
                "neighbours": params.neighbours,
                "detach_outliers": params.detach_outliers,
            },
            "link_threshold": threshold,
            "link_fmr": float(np.asarray(fmr(np.asarray([threshold]))).reshape(-1)[0]),
            "fmr_model": "calibration.nonmated_model(space).table('mean', 1)",
            "target": target,
            "scenarios": list(scenarios),
            "immich": {
                "max_distance": distance,
                "min_faces": immich_min_faces,
                "max_distance_from": "given" if immich_distance is not None else "link_threshold",
            },
        },
        faces=len(v),
        failed_images=len(failures),
        identities=scores.identities,
        clusters=scores.clusters,
        unclustered=scores.unclustered,
        scores=scores.as_dict(),
        singletons=singleton_figures(labels, truth),
        cluster_sizes={"predicted": size_histogram(labels), "true": size_histogram_truth(truth)},
        labelling=[r.as_dict() for r in runs],
        comparison=compare_runs(runs),
        seconds={"cluster": cluster_seconds, "labelling": labelling_seconds},
        labels=labels,
        truth=truth,
        curves={f"{r.workflow}/{r.scenario}": r.curve for r in runs},
    )


def size_histogram_truth(truth: Sequence[str]) -> dict[str, int]:
    """Identity size -> how many identities have that many faces."""
    sizes = Counter(Counter(truth).values())
    return {str(k): int(sizes[k]) for k in sorted(sizes)}


__all__ = ["WORKFLOWS", "ClusterResult", "run_cluster", "singleton_figures", "size_histogram"]
