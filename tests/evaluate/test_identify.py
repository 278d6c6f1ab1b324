"""`facewise eval identify` through the real gallery, checked against a brute-force search over
the same cached vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewise.evaluate.cache import embed_images, resolve_pipeline
from facewise.evaluate.datasets import load_manifest
from facewise.evaluate.metrics import threshold_at_fmr

from .conftest import Run

pytestmark = [pytest.mark.models, pytest.mark.data]


def test_identify_matches_a_brute_force_search(
    identify_run: Run, lfw: Path, eval_cache: Path
) -> None:
    d = identify_run.data
    manifest = load_manifest(lfw / "manifest.csv").limit_people(500)
    [emb] = embed_images(manifest.root, manifest.paths, [resolve_pipeline()], cache_dir=eval_cache)
    assert emb.computed == 0  # everything came from the command's cache
    v = emb.vectors[emb.rows(manifest.paths)]
    ok = np.asarray(~np.isnan(v).any(axis=1))  # (N,) bool
    by: dict[str, list[int]] = {}
    for i, who in enumerate(manifest.identities):
        if ok[i]:
            by.setdefault(who, []).append(i)
    enrolled = {p: idx for p, idx in by.items() if len(idx) >= 2}
    distractors = [idx[0] for idx in by.values() if len(idx) == 1]
    names = sorted(enrolled)
    gallery = np.stack([v[enrolled[p][0]] for p in names])
    probes = [(p, i) for p in names for i in enrolled[p][1:]]
    sims = np.stack([v[i] for _, i in probes]) @ gallery.T
    top = sims.argmax(axis=1)
    correct = np.array([names[t] == p for t, (p, _) in zip(top, probes, strict=True)])
    assert d["enrolled_people"] == len(names) and d["mated_probes"] == len(probes)
    assert d["non_mated_probes"] == len(distractors)
    assert d["rank1"] == pytest.approx(correct.mean())
    order = np.argsort(-sims, axis=1)
    rank5 = np.mean([names.index(p) in order[k, :5] for k, (p, _) in enumerate(probes)])
    assert d["cmc"]["5"] == pytest.approx(rank5)
    non_mated_top = (v[distractors] @ gallery.T).max(axis=1)
    thr = threshold_at_fmr(non_mated_top, 0.1)
    mated_top = np.where(correct, sims.max(axis=1), -np.inf)
    assert d["fnir_at_fpir"]["0.1"] == pytest.approx(np.mean(mated_top < thr), abs=1 / len(probes))
    assert "0.001" in d["fpir_unsupported"]  # fewer than 1,000 distractors in this subset
    cmc = [d["cmc"][str(r)] for r in range(1, 21)]
    assert cmc == sorted(cmc) and cmc[-1] <= 1.0
    sizes = d["gallery_size"]
    assert [s["people"] for s in sizes] == sorted(s["people"] for s in sizes)
    assert sizes[-1]["people"] == d["enrolled_people"] and sizes[-1]["rank1"] == d["rank1"]
    lo, hi = d["rank1_ci95"]
    assert lo <= d["rank1"] <= hi


def test_identify_needs_people_to_enrol(tmp_path: Path, lfw: Path) -> None:
    from .conftest import cli

    manifest = tmp_path / "m.csv"
    manifest.write_text("path,identity\nimages/Aaron_Sorkin/Aaron_Sorkin_0001.jpg,Aaron_Sorkin\n")
    code, d, _ = cli(
        "identify",
        "--manifest",
        str(manifest),
        "--root",
        str(lfw),
        "--json",
        "--quiet",
        "--cache",
        str(tmp_path / "c"),
    )
    assert code == 2 and d is not None and "no person has 2 or more" in d["error"]["message"]
