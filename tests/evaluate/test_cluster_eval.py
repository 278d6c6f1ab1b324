"""`facewise eval cluster` on a real folder-per-identity dataset (the first LFW people by name,
many of them seen once): its figures are checked against the clustering recomputed from the
same cached vectors, and its report and text summary are looked at."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from facewise.cli.main import main
from facewise.cluster.algorithm import cluster_vectors
from facewise.cluster.metrics import score
from facewise.evaluate.cache import embed_images, has_vector, resolve_pipeline
from facewise.evaluate.datasets import load_folder

pytestmark = [pytest.mark.models, pytest.mark.data]

LIMIT = "150"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cluster-cache")


@pytest.fixture(scope="module")
def run(lfw: Path, cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    report = tmp_path_factory.mktemp("cluster-report") / "cluster.html"
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "cluster",
            str(lfw / "images"),
            "--limit",
            LIMIT,
            "--json",
            "--quiet",
            "--cache",
            str(cache),
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_figures_match_the_clustering_of_the_cached_vectors(
    run: dict[str, object], lfw: Path, cache: Path
) -> None:
    from facewise import Engine, load_settings
    from facewise.calibration import nonmated_model

    d = run
    assert d["kind"] == "cluster"
    manifest = load_folder(lfw / "images").limit_people(int(LIMIT))
    [emb] = embed_images(manifest.root, manifest.paths, [resolve_pipeline()], cache_dir=cache)
    assert emb.computed == 0  # all from the command's cache
    v = emb.vectors[emb.rows(manifest.paths)]
    ok = has_vector(v)
    who = [w for w, keep in zip(manifest.identities, ok.tolist(), strict=True) if keep]
    fmr = nonmated_model(Engine(load_settings()).space).table("mean", 1).fmr
    labels = cluster_vectors(np.ascontiguousarray(v[ok]), fmr=fmr)
    expected = score(labels, who)
    assert d["faces"] == len(who) and d["identities"] == expected.identities
    assert d["scores"] == pytest.approx(expected.as_dict())
    once = d["singletons"]
    assert isinstance(once, dict)
    seen_once = [w for w in set(who) if who.count(w) == 1]
    assert once["people_seen_once"] == len(seen_once) > 20
    assert once["kept_alone"] == sum(
        1 for i, w in enumerate(who) if w in seen_once and labels[i] < 0
    )
    sizes = d["cluster_sizes"]
    assert isinstance(sizes, dict)
    assert sum(int(k) * n for k, n in sizes["true"].items()) == len(who)
    assert sum(int(k) * n for k, n in sizes["predicted"].items()) == len(who)


def test_the_labelling_comparison(run: dict[str, object]) -> None:
    runs = run["labelling"]
    assert isinstance(runs, list) and len(runs) == 6
    by = {(r["workflow"], r["scenario"]): r for r in runs}
    comparison = run["comparison"]
    assert isinstance(comparison, dict)
    for scenario in ("all", "recurring"):
        fw, immich, naive = (by[(w, scenario)] for w in ("facewise", "immich", "naive"))
        assert fw["reached"] and immich["reached"] and naive["reached"]
        assert fw["actions"] < naive["actions"]
        row = comparison[scenario]
        assert row["facewise_over_immich"] == pytest.approx(fw["actions"] / immich["actions"])
        assert row["facewise_actions_per_named_person"] == pytest.approx(
            fw["actions"] / fw["named_people"]
        )
        curve = fw["curve"]
        assert curve["actions"][-1] == fw["actions"] and curve["correct"][-1] >= 0.99


def test_report_and_summary(run: dict[str, object], lfw: Path, cache: Path) -> None:
    html = Path(str(run["report"])).read_text()
    assert html.count("<img") == 3  # sizes and one labelling curve per scenario
    embedded = re.search(r'id="facewise-result">(.*?)</script>', html, re.S)
    assert embedded is not None
    assert json.loads(embedded.group(1).replace("<\\/", "</"))["scores"] == run["scores"]
    text = CliRunner().invoke(
        main,
        [
            "eval",
            "cluster",
            str(lfw / "images"),
            "--limit",
            LIMIT,
            "--quiet",
            "--cache",
            str(cache),
        ],
    )
    assert text.exit_code == 0, text.output
    assert "BCubed P" in text.output and "NMI" in text.output
    assert re.search(r"labelling to 99% \(recurring\): facewise \d+", text.output)
