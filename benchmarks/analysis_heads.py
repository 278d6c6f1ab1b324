"""The age/gender heads and their abstention, measured on data they were not trained on.

    python training/analysis_features.py        # the features (cached in benchmarks/.cache)
    python benchmarks/analysis_heads.py [--plot docs/age_gender_reliability.png]

The heads (``src/facewise/models/age_gender_heads.json``) were trained, calibrated and their
rules chosen on half A of UTKFace dev only (``training/age_gender_heads.py``). This reports on
half B of UTKFace dev (the other 1,279 images) and on 1,000 LFW dev faces (one per person; LFW
has no age labels), through the same ``facewise.analyzers.age_gender.answer`` that
``facewise analyze`` runs. "bundled" is the networks alone (``heads=False``).

Caveat on which model saw which data: the bundled networks were trained on Cydral's private
sets, the dlib ResNet on FaceScrub/VGG-Face/web images (LFW identities may overlap), the heads on
UTKFace dev half A.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from common import CACHE, machine, write_result  # noqa: E402
from facewise import models  # noqa: E402
from facewise.analyzers.age_gender import HEADS, Heads, answer  # noqa: E402


def half_b(sha: np.ndarray) -> np.ndarray:
    return np.array([int(s[0], 16) % 2 == 1 for s in sha])


def run(data: Any, rows: np.ndarray, heads: Heads | None) -> list[dict[str, Any]]:
    return [
        answer(heads, data["gender_probs"][i], data["age_probs"][i], data["embedding"][i])
        for i in np.flatnonzero(rows)
    ]


def gender_stats(out: list[dict[str, Any]], truth: np.ndarray) -> dict[str, float]:
    given = np.array([o["gender"] is not None for o in out])
    ok = np.array([o["gender"] == t for o, t in zip(out, truth, strict=True)])
    female = truth == "female"
    return {
        "n": len(out),
        "answered": float(given.mean()),
        "accuracy_answered": float(ok[given].mean()) if given.any() else float("nan"),
        "female_recall_answered": float(ok[given & female].mean())
        if (given & female).any()
        else float("nan"),
    }


def wilson(p: float, n: float, z: float = 1.96) -> tuple[float, float]:
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def reliability(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    edges = np.linspace(0.5, 1.0, bins + 1)
    out = []
    for lo, hi in itertools.pairwise(edges):
        sel = (conf >= lo) & ((conf < hi) if hi < 1 else (conf <= hi))
        if sel.sum():
            out.append(
                {
                    "lo": lo,
                    "hi": hi,
                    "n": int(sel.sum()),
                    "confidence": float(conf[sel].mean()),
                    "accuracy": float(correct[sel].mean()),
                }
            )
    return out


def ece(table: list[dict[str, float]]) -> float:
    total = sum(b["n"] for b in table)
    return sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in table) / total


def plot(path: Path, curves: dict[str, list[dict[str, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.plot([0.5, 1], [0.5, 1], ls="--", c="grey", lw=1, label="perfectly calibrated")
    for label, table in curves.items():
        ax.plot(
            [b["confidence"] for b in table],
            [b["accuracy"] for b in table],
            marker="o",
            label=f"{label} (ECE {ece(table):.3f})",
        )
    ax.set_xlabel("stated gender confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Gender confidence, UTKFace dev half B + LFW")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", type=Path, default=None, help="write the reliability PNG")
    parser.add_argument(
        "--swap",
        type=Path,
        default=None,
        metavar="HEADS_JSON",
        help="heads trained on half B (training/age_gender_heads.py --swap): report on half A",
    )
    args = parser.parse_args()
    heads = Heads.load(args.swap or models.path(HEADS))
    utk = np.load(CACHE / "analysis_features_utk.npz")
    lfw = np.load(CACHE / "analysis_features_lfw.npz")
    b = half_b(utk["sha256"]) != bool(args.swap)
    half = "A" if args.swap else "B"
    result: dict[str, Any] = {"machine": machine()}
    lines = ["# analysis_heads", "", str(machine()), ""]
    curves = {}
    for label, h in (("bundled", None), ("heads", heads)):
        out_b = run(utk, b, h)
        out_l = run(lfw, np.ones(len(lfw["sha256"]), bool), h)
        truth_b, truth_l = utk["gender"][b], lfw["gender"]
        age_b = utk["age"][b]
        err = np.abs(np.array([o["age"] for o in out_b]) - age_b)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, (race, bin_) in enumerate(zip(utk["race"][b], utk["age_bin"][b], strict=True)):
            for key in ("all", f"race={race}", f"age={bin_}"):
                groups[key].append(i)
        table = {}
        lines += [
            f"## {label}",
            "",
            f"| UTKFace half {half} group | images | gender answered | "
            "gender accuracy (answered) | gender accuracy (forced) | age MAE |",
            "|---|---|---|---|---|---|",
        ]
        forced_b = forced(utk["gender_probs"][b], h, utk["embedding"][b])
        for key in sorted(groups, key=lambda k: (k != "all", k)):
            idx = groups[key]
            st = gender_stats([out_b[i] for i in idx], truth_b[idx])
            f_acc = float(np.mean(forced_b[idx] == truth_b[idx]))
            mae = float(err[idx].mean())
            table[key] = {**st, "accuracy_forced": f_acc, "age_mae": mae}
            lines.append(
                f"| {key} | {st['n']} | {st['answered']:.3f} | {st['accuracy_answered']:.3f} | "
                f"{f_acc:.3f} | {mae:.2f} |"
            )
        given = table["all"]["answered"] * table["all"]["n"]
        lo_ci, hi_ci = wilson(table["all"]["accuracy_answered"], given)
        lines += [
            "",
            f"Gender accuracy over answered, all of half {half}: "
            f"{table['all']['accuracy_answered']:.3f} (95% Wilson {lo_ci:.3f}-{hi_ci:.3f}, "
            f"{given:.0f} answered)",
        ]
        in_range = age_b <= 80
        covered = np.mean(
            [o["age_range"][0] <= t <= o["age_range"][1] for o, t in zip(out_b, age_b, strict=True)]
        )
        flagged = np.array([o["age_beyond_range"] for o in out_b])
        lfw_st = gender_stats(out_l, truth_l)
        forced_l = forced(lfw["gender_probs"], h, lfw["embedding"])
        lfw_forced = float(np.mean(forced_l == truth_l))
        lfw_female = float(np.mean(forced_l[truth_l == "female"] == "female"))
        lines += [
            "",
            f"Age MAE for true ages <= 80: {err[in_range].mean():.2f}; over 80: "
            f"{err[~in_range].mean():.2f}. `age_beyond_range` flags {flagged[~in_range].mean():.1%}"
            f" of faces over 80 and {flagged[age_b < 60].mean():.1%} of those under 60. Age range "
            f"holds the true age for {covered:.1%}.",
            "",
            f"LFW dev ({lfw_st['n']} faces, one per person): gender accuracy forced "
            f"{lfw_forced:.3f} (female recall {lfw_female:.3f}); answered "
            f"{lfw_st['answered']:.3f}, accuracy over answered {lfw_st['accuracy_answered']:.3f}.",
            "",
        ]
        conf = np.concatenate(
            [[o["gender_confidence"] for o in out_b], [o["gender_confidence"] for o in out_l]]
        )
        corr = np.concatenate([forced_b == truth_b, forced_l == truth_l])
        rel = reliability(conf, corr)
        curves[label] = rel
        lines.append(f"Gender confidence ECE (half {half} + LFW, 10 bins): {ece(rel):.3f}")
        lines.append("")
        result[label] = {
            "utk_half_b": table,
            "lfw": {**lfw_st, "accuracy_forced": lfw_forced, "female_recall_forced": lfw_female},
            "reliability": rel,
            "ece": ece(rel),
            "age_mae_le80": float(err[in_range].mean()),
        }
    lat = latency()
    lines.append(
        f"Per face (median of {lat['n']} LFW faces, after detection): networks alone "
        f"{lat['bundled_ms']:.1f} ms, with the heads (adds the dlib embedding) "
        f"{lat['heads_ms']:.1f} ms"
    )
    result["latency_ms"] = lat
    if args.plot:
        plot(args.plot, curves)
        lines.append(f"Reliability diagram: {args.plot}")
    markdown = "\n".join(lines)
    print(markdown)
    stem = "analysis_heads_swap" if args.swap else "analysis_heads"
    print("written", write_result(stem, markdown, result))


def latency(count: int = 30) -> dict[str, float]:
    import csv
    import statistics
    import time

    from common import LFW
    from facewise import Engine
    from facewise.analyzers.age_gender import AgeGenderAnalyzer

    engine = Engine()
    with (LFW / "manifest.csv").open(newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["path"])[::200][:count]
    pairs = []
    for row in rows:
        image = engine.load_image(LFW / row["path"])
        found = engine.detector.detect(image)
        if found:
            pairs.append((image, found[0]))
    out: dict[str, float] = {"n": len(pairs)}
    for label, analyzer in (
        ("bundled", AgeGenderAnalyzer(heads=False)),
        ("heads", AgeGenderAnalyzer()),
    ):
        analyzer.analyze(*pairs[0])
        times = []
        for image, det in pairs:
            start = time.perf_counter()
            analyzer.analyze(image, det)
            times.append((time.perf_counter() - start) * 1000)
        out[f"{label}_ms"] = statistics.median(times)
    return out


def forced(gender_probs: np.ndarray, heads: Heads | None, emb: np.ndarray) -> np.ndarray:
    """The likelier gender of every face, abstaining or not."""
    labels = []
    for g, e in zip(gender_probs, emb, strict=True):
        p = heads.p_male(g, e) if heads else float(g[1])
        labels.append("male" if p > 0.5 else "female")
    return np.array(labels)


if __name__ == "__main__":
    main()
