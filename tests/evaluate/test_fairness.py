"""`facewise eval fairness --group gender` on LFW dev: group membership, rates at the one global
threshold and the warnings, checked against counts made here from the CSV files and scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewise.compare import threshold
from facewise.engine import Engine
from facewise.evaluate.cache import embed_images, resolve_pipeline
from facewise.evaluate.datasets import load_manifest

from .conftest import Run, cli, rows

pytestmark = [pytest.mark.models, pytest.mark.data]


def test_per_group_rates_from_the_pair_scores(
    fairness_run: Run, scores: list[dict[str, str]], lfw: Path, engine: Engine
) -> None:
    d = fairness_run.data
    gender = {r["path"]: r["gender"] for r in rows(lfw / "manifest.csv") if r["gender"]}
    assert d["threshold"] == threshold(engine.space, "fmr")  # the deployed threshold
    t = d["threshold"]
    expected: dict[str, dict[str, list[float]]] = {}
    unlabelled = 0
    for r in scores:
        ga, gb = gender.get(r["path_a"]), gender.get(r["path_b"])
        if ga is None or gb is None:
            unlabelled += 1
            continue
        key = ga if ga == gb else " × ".join(sorted((ga, gb)))
        kind = "genuine" if r["same_identity"] == "1" else "impostor"
        expected.setdefault(key, {"genuine": [], "impostor": []})[kind].append(float(r["score"]))
    assert d["unlabelled"] == unlabelled
    groups = {g["group"]: g for g in d["groups"]}
    assert set(groups) == {"female", "male"}
    for name, g in groups.items():
        gen, imp = np.array(expected[name]["genuine"]), np.array(expected[name]["impostor"])
        assert g["genuine_pairs"] == len(gen) and g["impostor_pairs"] == len(imp)
        assert g["fnmr"] == pytest.approx(np.mean(gen < t))
        assert g["fmr"] == pytest.approx(np.mean(imp >= t))
        for kind in ("fmr", "fnmr"):
            lo, hi = g[f"{kind}_ci95"]
            assert lo <= g[kind] <= hi
        if len(imp) < 100:
            assert any("too small to judge" in w for w in g["warnings"])
    [cross] = d["cross_group"]
    assert cross["groups"] == "female × male"
    assert cross["impostor_pairs"] == len(expected["female × male"]["impostor"])
    ratio = d["fnmr_ratio"]
    hi, lo = groups[ratio["max_group"]]["fnmr"], groups[ratio["min_group"]]["fnmr"]
    assert ratio["value"] == pytest.approx(hi / lo) and hi >= lo
    flagged = groups[ratio["max_group"]]["warnings"] or groups[ratio["min_group"]]["warnings"]
    assert ratio["judgeable"] == (not flagged)
    assert d["warnings"] == [f"{g}: {w}" for g, r in groups.items() for w in r["warnings"]]


def test_all_pairs_mode_counts_every_pair(lfw: Path, eval_cache: Path, identify_run: Run) -> None:
    manifest = load_manifest(lfw / "manifest.csv").limit_people(500)
    code, d, out = cli(
        "fairness",
        "--manifest",
        str(lfw / "manifest.csv"),
        "--group",
        "gender",
        "--limit",
        "500",
        "--far",
        "0.001",
        "--json",
        "--quiet",
        "--cache",
        str(eval_cache),
    )
    assert code == 0 and d is not None, out
    assert d["pairs_source"] == "all pairs of the manifest images"
    [emb] = embed_images(manifest.root, manifest.paths, [resolve_pipeline()], cache_dir=eval_cache)
    v = emb.vectors[emb.rows(manifest.paths)]
    ids = np.array(manifest.identities)
    labels = np.array([g for g in manifest.groups["gender"]])
    keep = labels != ""
    v, ids, labels = v[keep], ids[keep], labels[keep]
    iu = np.triu_indices(len(v), 1)
    v64 = v.astype(np.float64)
    sims = (v64 @ v64.T)[iu]
    near = np.abs(sims - d["threshold"]) < 1e-5  # float32 rounding may fall either side
    same = ids[iu[0]] == ids[iu[1]]
    # the threshold: FAR 1e-3 over every impostor pair, as asked
    n_imp = int((~same).sum())
    assert np.sum(sims[~same] >= d["threshold"]) <= 0.001 * n_imp + near.sum()
    assert d["overall"]["impostor_pairs"] == n_imp
    for g in d["groups"]:
        inside = (labels[iu[0]] == g["group"]) & (labels[iu[1]] == g["group"])
        assert g["genuine_pairs"] == int((inside & same).sum())
        assert g["impostor_pairs"] == int((inside & ~same).sum())
        above = int((inside & ~same & (sims >= d["threshold"])).sum())
        assert abs(g["false_matches"] - above) <= int((inside & ~same & near).sum())


def test_group_errors(lfw: Path, tmp_path: Path) -> None:
    code, d, _ = cli(
        "fairness",
        "--manifest",
        str(lfw / "manifest.csv"),
        "--group",
        "eye_colour",
        "--json",
        "--quiet",
        "--cache",
        str(tmp_path),
    )
    assert code == 2 and d is not None
    assert "no column 'eye_colour'" in d["error"]["message"] and "gender" in d["error"]["message"]
    empty = tmp_path / "m.csv"
    empty.write_text("path,identity,site\nimages/A/A_0001.jpg,A,\nimages/B/B_0001.jpg,B,\n")
    code, d, _ = cli("fairness", "--manifest", str(empty), "--group", "site", "--json")
    assert code == 2 and d is not None and "has no values" in d["error"]["message"]
