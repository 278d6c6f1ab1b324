"""Calibrating a new embedding space on the user's own pairs (``facewise calibrate``): the same
two operating points ``benchmarks/verify_lfw.py --write-thresholds`` measures for the bundled
models, and the non-mated model ``benchmarks/identify_lfw.py --write-thresholds`` fits for
identification, as one entry for ``calibration.write_user_entry``.

* ``accuracy``: the score that maximises accuracy over the pairs (both faces found).
* ``fmr``: the lowest score whose false-match rate is at most the target (1e-3 by default) over
  the impostor comparisons: the pairs marked different, or, when the images' identities are known
  (``identities="folder"``: each image's parent folder names its person), every comparison of two
  images of different people, as the bundled calibration does. A target the data cannot carry
  (fewer than 1/target impostor comparisons) is still written, flagged ``"supported": false``.
* ``nonmated``: the FMR tables of :func:`facewise.calibration.fit_model` (identification
  thresholds at any gallery size); it needs the identities and at least 2,500 comparisons of
  different people. Without them the entry says why (``nonmated_missing``) and identify refuses
  the space with that reason.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from facewise.calibration import fit_model
from facewise.errors import InvalidInput
from facewise.evaluate import metrics
from facewise.evaluate.cache import Embedded, Pipeline, Progress, embed_images
from facewise.evaluate.datasets import DatasetError, PairSet
from facewise.evaluate.verify import score_pairs
from facewise.settings import Settings

IDENTITIES = ("none", "folder")
FMR_TARGETS = (1e-2, 1e-3, 1e-4)


def identities_of(paths: list[str], mode: str) -> list[str] | None:
    """Each image's person: its parent folder's name for ``"folder"``; None for ``"none"``."""
    if mode not in IDENTITIES:
        raise InvalidInput(f"identities must be one of {', '.join(IDENTITIES)}, got {mode!r}")
    if mode == "none":
        return None
    return [Path(p).parent.name for p in paths]


def calibrate_embedded(
    pairs: PairSet, embedded: Embedded, *, identities: str = "none", fmr: float = 1e-3
) -> dict[str, Any]:
    """The calibration entry of ``embedded``'s space from ``pairs`` (see the module)."""
    if not 0.0 < fmr < 1.0:
        raise InvalidInput(f"the FMR target must be between 0 and 1, got {fmr:g}")
    scores, failed = score_pairs(pairs, embedded)
    s, y = scores[~failed], pairs.same[~failed]
    if not y.any() or y.all():
        raise DatasetError(
            f"{pairs.source}: calibration needs pairs of the same person and of different "
            f"people with a face on both sides; it has {int(y.sum())} and {int((~y).sum())} "
            f"({int(failed.sum())} pairs without a face on a side)"
        )
    people = identities_of(embedded.paths, identities)
    ok = embedded.ok
    vectors = embedded.vectors[ok]
    who = None if people is None else np.asarray(people)[ok]
    if who is not None:
        same_person = np.asarray(
            [
                Path(a).parent.name == Path(b).parent.name
                for a, b in zip(pairs.path_a, pairs.path_b, strict=True)
            ]
        )
        wrong = int((same_person != pairs.same).sum())
        if wrong:
            raise DatasetError(
                f"{pairs.source}: {wrong} pair(s) disagree with the folders as identities "
                "(marked same across folders or different within one): use --identities none"
            )
        gram = vectors @ vectors.T
        upper = np.triu(np.ones(gram.shape, dtype=bool), 1)
        impostors = gram[upper & (who[:, None] != who[None, :])].astype(np.float64)
        genuine = gram[upper & (who[:, None] == who[None, :])].astype(np.float64)
        impostor_source = "every comparison of two images of different people"
    else:
        impostors, genuine = s[~y], s[y]
        impostor_source = "the pairs marked different"
    acc_thr, acc = metrics.best_threshold(s, y)
    at_fmr = {}
    for target in sorted({*FMR_TARGETS, fmr}, reverse=True):
        thr = metrics.threshold_at_fmr(impostors, target)
        fmr_pairs, tmr_pairs = metrics.rates_at(s, y, thr)
        at_fmr[f"{target:g}"] = {
            "threshold": thr,
            "target_fmr": target,
            "supported": metrics.far_supported(len(impostors), target),
            "tmr_genuine": float((genuine >= thr).mean()),
            "fmr_pairs": fmr_pairs,
            "tmr_pairs": tmr_pairs,
        }
    chosen = at_fmr[f"{fmr:g}"]
    today = dt.date.today().isoformat()
    source = (
        f"{Path(pairs.source).name}: {len(pairs)} pairs, {int(ok.sum())} images with a face, "
        f"{today}, facewise calibrate"
    )
    entry: dict[str, Any] = {
        "accuracy": {"threshold": acc_thr, "accuracy_pairs": acc},
        "fmr": {
            **chosen,
            "impostor_comparisons": len(impostors),
            "impostors_from": impostor_source,
            "genuine_comparisons": len(genuine),
        },
        "thresholds_at_fmr": at_fmr,
        "pairs": {
            "total": len(pairs),
            "genuine": int(pairs.same.sum()),
            "impostor": int((~pairs.same).sum()),
            "without_face": int(failed.sum()),
        },
        "calibrated_on": source,
    }
    if not chosen["supported"]:
        entry["fmr"]["note"] = (
            f"FMR {fmr:g} needs at least {metrics.min_impostors_for(fmr):,} impostor comparisons; "
            f"there are {len(impostors):,}, so this threshold only rejects every one of them"
        )
    if who is None:
        entry["nonmated_missing"] = (
            "facewise calibrate was run without identities; identification thresholds need "
            "every image's person (--identities folder: images in one folder per person) to "
            "measure how strangers score against people enrolled from 1-5 samples"
        )
    else:
        try:
            model = fit_model(vectors, who, source=source)
        except InvalidInput as exc:
            entry["nonmated_missing"] = (
                f"{exc.message}: identification thresholds need at least 2,500 comparisons "
                "of different people (about 72 images of different people or more)"
            )
        else:
            entry["nonmated"] = model.as_dict()
    return entry


def run_calibrate(
    pairs: PairSet,
    pipeline: Pipeline,
    *,
    identities: str = "none",
    fmr: float = 1e-3,
    settings: Settings | None = None,
    cache_dir: Path | str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> tuple[Embedded, dict[str, Any]]:
    """Embed the pairs' images with ``pipeline`` (cached) and calibrate its space."""
    identities_of([], identities)  # a bad mode fails before anything is embedded
    [embedded] = embed_images(
        pairs.root,
        pairs.images(),
        [pipeline],
        cache_dir=cache_dir,
        settings=settings,
        workers=workers,
        progress=progress,
    )
    return embedded, calibrate_embedded(pairs, embedded, identities=identities, fmr=fmr)


__all__ = ["FMR_TARGETS", "IDENTITIES", "calibrate_embedded", "identities_of", "run_calibrate"]
