"""`facewise eval verify` on LFW dev: the benchmark's figure, and the k-fold protocol recomputed
from the per-pair scores the command writes, with independent plain-numpy code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from facewise.evaluate.verify import FARS

from .conftest import ROOT_BENCH, Run, cli, rows

pytestmark = [pytest.mark.models, pytest.mark.data]


def brute_force_kfold(
    scores: npt.NDArray[np.float64], same: npt.NDArray[np.bool_], folds: npt.NDArray[np.int_]
) -> list[float]:
    """For each fold: try every decision on the other folds' pairs (midpoints between distinct
    finite scores and both ends), keep the middle one of the best, score the held-out fold."""
    accs = []
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        s, y = scores[train], same[train]
        finite = np.unique(s[np.isfinite(s)])
        cands = np.r_[finite[0] - 1e-9, (finite[1:] + finite[:-1]) / 2, finite[-1] + 1e-9]
        correct = np.array([np.sum((s >= t) == y) for t in cands])
        best = np.flatnonzero(correct == correct.max())
        thr = cands[best[len(best) // 2]]
        accs.append(float(np.mean((scores[test] >= thr) == same[test])))
    return accs


def test_reproduces_the_benchmark_accuracy(verify_run: Run) -> None:
    reference = json.loads(next(ROOT_BENCH.glob("verify_lfw-*.json")).read_text())["rows"][0]
    assert reference["system"].startswith("facewise default")
    d = verify_run.data
    assert abs(d["accuracy"] - reference["accuracy"]) <= 0.001
    assert d["pipeline"] == {
        **d["pipeline"],
        "detector": "hog+mtcnn",
        "embedder": "dlib-resnet",
        "flip": True,
    }
    assert d["pairs"] == 3000 and d["genuine_pairs"] == d["impostor_pairs"] == 1500
    assert d["failed_pairs"] == reference["failures_to_detect"] == 0


def test_kfold_matches_an_independent_computation(
    verify_run: Run, scores: list[dict[str, str]]
) -> None:
    s = np.array([float(r["score"]) for r in scores])
    y = np.array([r["same_identity"] == "1" for r in scores])
    f = np.array([int(r["fold"]) for r in scores])
    assert len(s) == verify_run.data["pairs"]
    accs = brute_force_kfold(s, y, f)
    mean = sum(accs) / len(accs)
    std = (sum((a - mean) ** 2 for a in accs) / len(accs)) ** 0.5
    d = verify_run.data
    assert d["accuracy"] == pytest.approx(mean, abs=1e-12)
    assert d["accuracy_std"] == pytest.approx(std, abs=1e-12)
    assert [p["accuracy"] for p in d["per_fold"]] == pytest.approx(accs, abs=1e-12)


def test_tar_at_far_and_eer_from_the_scores(verify_run: Run, scores: list[dict[str, str]]) -> None:
    d = verify_run.data
    s = np.array([float(r["score"]) for r in scores])
    y = np.array([r["same_identity"] == "1" for r in scores])
    n_imp = int((~y).sum())
    supported = {f"{f:g}" for f in FARS if n_imp * f >= 1}
    assert set(d["tar_at_far"]) == supported and "0.001" in supported
    assert set(d["tar_at_far_unsupported"]) == {f"{f:g}" for f in FARS} - supported
    for key, tar in d["tar_at_far"].items():
        thr = d["threshold_at_far"][key]
        assert np.mean(s[~y] >= thr) <= float(key)  # the FAR holds
        assert tar == pytest.approx(np.mean(s[y] >= thr))
        lo, hi = d["tar_at_far_ci95"][key]
        assert lo <= tar <= hi
    # EER: where FMR and FNMR cross, so both rates at that score bracket it
    imp, gen = np.sort(s[~y]), np.sort(s[y])
    t = np.quantile(imp, 1 - d["eer"])
    assert abs(np.mean(gen < t) - d["eer"]) < 0.01
    assert d["auc"] == pytest.approx(np.mean(gen[:, None] > imp[None, :]), abs=1e-3)
    for key in ("accuracy", "auc", "eer"):
        lo, hi = d[f"{key}_ci95"]
        assert lo <= d[key] <= hi and hi - lo < 0.05


def test_failures_are_counted_and_rejected(
    lfw: Path, tmp_path: Path, eval_cache: Path, no_face_photo: Path
) -> None:
    """A missing file and a photo without a face: counted, scored as rejections, no crash."""
    manifest = rows(lfw / "manifest.csv")
    counts: dict[str, int] = {}
    for r in manifest:
        counts[r["identity"]] = counts.get(r["identity"], 0) + 1
    people = sorted(p for p, n in counts.items() if n >= 2)[:4]
    root = tmp_path / "root"
    for person in people:
        for r in [r for r in manifest if r["identity"] == person][:2]:
            target = root / r["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(lfw / r["path"], target)
    shutil.copy(no_face_photo, root / "coffee.png")
    lines = ["fold,path_a,path_b,same_identity"]
    for fold, (p, q) in enumerate(zip(people[::2], people[1::2], strict=True), start=1):
        a = sorted((root / "images" / p).iterdir())
        b = sorted((root / "images" / q).iterdir())
        rel = [str(x.relative_to(root)) for x in (*a, *b)]
        lines += [
            f"{fold},{rel[0]},{rel[1]},1",
            f"{fold},{rel[2]},{rel[3]},1",
            f"{fold},{rel[0]},{rel[2]},0",
            f"{fold},{rel[1]},{rel[3]},0",
        ]
    lines += [f"1,images/Nobody/Nobody_0001.jpg,{rel[0]},1", f"2,coffee.png,{rel[2]},0"]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("\n".join(lines) + "\n")
    code, d, output = cli(
        "verify",
        "--pairs",
        str(pairs),
        "--root",
        str(root),
        "--json",
        "--quiet",
        "--cache",
        str(eval_cache),
        "--bootstrap",
        "50",
        "--scores",
        str(tmp_path / "s.csv"),
    )
    assert code == 0 and d is not None, output
    assert d["pairs"] == 10 and d["failed_pairs"] == 2
    assert d["failed_genuine_pairs"] == 1 and d["failed_impostor_pairs"] == 1
    reasons = {f["path"]: f["reason"] for f in d["failures"]}
    assert reasons == {
        "coffee.png": "no face found",
        "images/Nobody/Nobody_0001.jpg": "missing file",
    }
    written = rows(tmp_path / "s.csv")
    assert [r["score"] for r in written[-2:]] == ["-inf", "-inf"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "absent.csv", "pairs file not found"),
        (lambda d: _write(d / "p.csv", "a,b,same\nx,y,1\n"), "lacks the column(s) path_a"),
        (lambda d: _write(d / "p.csv", "fold,path_a,path_b,same_identity\n"), "has no rows"),
    ],
)
def test_bad_pairs_files_are_clear_errors(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    code, d, _ = cli("verify", "--pairs", str(make(tmp_path)), "--json")
    assert code == 2 and d is not None
    assert d["error"]["code"] == "dataset_error" and message in d["error"]["message"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
