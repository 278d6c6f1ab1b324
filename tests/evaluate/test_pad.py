"""``facewise eval pad`` on a real NUAA subset (../shared, never copied): dev subjects 0007 and
0010, test subjects 0015 and 0016 (held out of the bundled model's training), plus a bona fide
row in which no face is found. The lab's figures equal a plain-numpy recomputation from the
per-image scores it wrote, the scores are the bundled model's, and the report opens."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facewise.engine import Engine
from facewise.liveness.model import bundled
from testdata import dataset

from .conftest import cli, rows
from .test_reports import check_opened, open_report

pytestmark = [pytest.mark.models, pytest.mark.data]


def subset(nuaa: Path, subjects: tuple[str, ...], out: Path, extra: Path | None = None) -> Path:
    """Every 10th live and every 6th printed-photo frame of ``subjects``; an ``instrument``
    column names the photo (the attack type), blank for bona fide rows."""
    picked: list[dict[str, str]] = []
    sequences: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows(nuaa / "manifest.csv"):
        if row["subject"] in subjects:
            sequences.setdefault((row["label"], row["subject"]), []).append(row)
    for (label, subject), seq in sorted(sequences.items()):
        seq.sort(key=lambda r: int(r["frame_no"]))
        kind = "" if label == "live" else f"photo of {subject}"
        for row in seq[:: 10 if label == "live" else 6]:  # 5 frames of each sequence
            picked.append({"path": row["path"], "label": label, "instrument": kind})
    if extra is not None:  # an absolute path: a bona fide presentation without a face
        picked.append({"path": str(extra), "label": "live", "instrument": ""})
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "instrument"])
        writer.writeheader()
        writer.writerows(picked)
    return out


@pytest.fixture(scope="module")
def nuaa() -> Path:
    return dataset("antispoof/nuaa_raw_test_subset")


@pytest.fixture(scope="module")
def pad_run(nuaa: Path, tmp_path_factory: pytest.TempPathFactory, no_face_photo: Path) -> Any:
    tmp = tmp_path_factory.mktemp("pad")
    test = subset(nuaa, ("0015", "0016"), tmp / "test.csv", extra=no_face_photo)
    dev = subset(nuaa, ("0007", "0010"), tmp / "dev.csv")
    scores, report = tmp / "scores.csv", tmp / "pad.html"
    code, data, output = cli(
        "pad", "--manifest", str(test), "--dev-manifest", str(dev), "--root", str(nuaa),
        "--label-column", "label", "--attack-column", "instrument", "--scores", str(scores),
        "--report", str(report), "--json", "--quiet",
    )  # fmt: skip
    assert code == 0 and data is not None, output
    return data, rows(scores), report, test


def lowest(errors: np.ndarray, allowed: np.ndarray) -> float:
    """The lowest error where allowed; 1.0 when no threshold is (every one fails the target)."""
    return float(errors[allowed].min()) if allowed.any() else 1.0


def numpy_figures(live: np.ndarray, attacks: dict[str, np.ndarray], t: float) -> dict[str, Any]:
    """The figures from scratch: error rates by counting, operating points by brute force."""
    grid = np.append(np.unique(np.concatenate([live, *attacks.values()])), np.inf)
    grid = grid[np.isfinite(grid) | (grid == np.inf)]
    ap = np.array([max(float(np.mean(a >= g)) for a in attacks.values()) for g in grid])
    bp = np.array([float(np.mean(live < g)) for g in grid])
    per = {k: float(np.mean(a >= t)) for k, a in attacks.items()}
    worst = max(per.values())
    every = np.concatenate(list(attacks.values()))
    wins = (live[:, None] > every[None, :]).sum() + 0.5 * (live[:, None] == every[None, :]).sum()
    at = int(np.argmin(np.maximum(ap, bp)))
    return {
        "apcer": per,
        "apcer_worst": worst,
        "bpcer": float(np.mean(live < t)),
        "acer": (worst + float(np.mean(live < t))) / 2,
        "bpcer_at_apcer": {f"{x:g}": lowest(bp, ap <= x) for x in (0.01, 0.05, 0.1)},
        "apcer_at_bpcer": {f"{x:g}": lowest(ap, bp <= x) for x in (0.01, 0.05)},
        "eer": float((ap[at] + bp[at]) / 2),
        "auc": float(wins / (live.size * every.size)),
        "minmax": float(np.maximum(ap, bp).min()),
    }


def split(table: list[dict[str, str]], which: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    mine = [r for r in table if r["set"] == which]
    live = np.array([float(r["score"]) for r in mine if r["bona_fide"] == "1"])
    kinds = sorted({r["attack_type"] for r in mine if r["bona_fide"] == "0"})
    attacks = {
        k: np.array([float(r["score"]) for r in mine if r["attack_type"] == k]) for k in kinds
    }
    return live, attacks


def test_pad_figures_equal_a_numpy_recomputation(pad_run: Any, nuaa: Path) -> None:
    data, table, _, _ = pad_run
    assert data["kind"] == "pad" and data["threshold_source"] == "dev"
    live, attacks = split(table, "test")
    assert live.size == 6 and sorted(attacks) == ["photo of 0015", "photo of 0016"]
    assert np.isneginf(live).sum() == 1 and data["failed_images"] == 1  # the cup: no face
    assert data["failures"] == [{"path": data["failures"][0]["path"], "reason": "no_face",
                                 "set": "test"}]  # fmt: skip
    t = data["threshold"]
    expect = numpy_figures(live, attacks, t)
    got = data["test"]
    for key in ("apcer_worst", "bpcer", "acer", "eer", "auc"):
        assert got[key] == pytest.approx(expect[key], abs=1e-12), key
    for key in ("apcer", "bpcer_at_apcer", "apcer_at_bpcer"):
        assert got[key] == pytest.approx(expect[key], abs=1e-12), key
    assert got["bpcer"] == pytest.approx(1 / 6)  # the faceless bona fide row is an error
    assert got["worst_attack"] == max(got["apcer"], key=got["apcer"].get)
    # the threshold is the dev set's: no threshold has a lower max(worst APCER, BPCER) there
    dev_live, dev_attacks = split(table, "dev")
    dev = numpy_figures(dev_live, dev_attacks, t)
    assert max(dev["apcer_worst"], dev["bpcer"]) == pytest.approx(dev["minmax"], abs=1e-12)
    assert data["dev"]["acer"] == pytest.approx(dev["acer"], abs=1e-12)
    # the scores are the bundled model's on the largest face
    engine = Engine()
    for row in [r for r in table if r["set"] == "test"][:2]:
        (found,) = engine.liveness(str(nuaa / row["path"]), largest=True, model=bundled())
        assert float(row["score"]) == pytest.approx(found.score, abs=1e-12)
    assert any("printed-photo attacks only" in note for note in data["coverage"])


def test_pad_report_opens(pad_run: Any, browser: Any) -> None:
    data, _, report, _ = pad_run
    opened = open_report(browser, report)
    check_opened(opened, data)
    assert len(opened.images) == 2  # the DET curve and the score histogram
    assert f"{100 * data['test']['acer']:.2f}%" in opened.text
    assert "printed-photo attacks only" in opened.text and "dev set's EER threshold" in opened.text


def test_without_a_dev_set_the_models_threshold_is_used(pad_run: Any, nuaa: Path) -> None:
    _, _, _, test = pad_run
    code, _, output = cli(
        "pad", "--manifest", str(test), "--root", str(nuaa), "--label-column", "label", "--quiet"
    )
    assert code == 0, output
    assert f"threshold {bundled().threshold:.4f} (the model's own threshold" in output
    assert "printed-photo attacks only" in output
