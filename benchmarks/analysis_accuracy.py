"""Accuracy of each analyser on the labelled dev data, and its per-face latency.

    python benchmarks/analysis_accuracy.py [--limit N]

UTKFace dev: gender accuracy and age MAE, overall and per race and per age bin (children
included). FER-2013 dev and CK+ dev: 7-class expression accuracy (argmax, before the open-set
rule), confusion matrix, and the open-set rule's reject rate. CK+ has "contempt", which the
model does not know: those images are left out and counted.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from common import SHARED, machine, write_result
from facewise import Engine
from facewise.registry import create_analyzer

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def rows(folder: Path, limit: int | None) -> list[dict[str, str]]:
    with (folder / "manifest.csv").open(newline="") as fh:
        data = sorted(csv.DictReader(fh), key=lambda r: r["path"])
    if limit:
        step = max(1, len(data) // limit)
        data = data[::step][:limit]
    return data


def age_gender(engine: Engine, limit: int | None) -> tuple[list[str], dict]:
    folder = SHARED / "datasets" / "age_gender" / "utkface_subset"
    groups: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    detected = 0
    for row in rows(folder, limit):
        [face] = engine.analyze(folder / row["path"], what=["age", "gender"], largest=True) or [
            None
        ]
        if face is None:
            continue
        detected += face.attributes["detected"]
        err = abs(face.attributes["age"] - float(row["age"]))
        ok = face.attributes["gender"] == row["gender"]
        for key in ("all", f"race={row['race']}", f"age={row['age_bin']}"):
            groups[key].append((err, ok))
    lines = ["| UTKFace group | images | gender accuracy | age MAE (years) |", "|---|---|---|---|"]
    table = {}
    for key in sorted(groups, key=lambda k: (k != "all", k)):
        errs = [e for e, _ in groups[key]]
        acc = float(np.mean([ok for _, ok in groups[key]]))
        table[key] = {"n": len(errs), "gender_accuracy": acc, "age_mae": float(np.mean(errs))}
        lines.append(f"| {key} | {len(errs)} | {acc:.3f} | {np.mean(errs):.2f} |")
    lines.append(
        f"\nFaces detected in {detected} of {len(groups['all'])} chips; the rest were "
        "analysed as whole-image crops."
    )
    return lines, table


def expression(
    engine: Engine, dataset: str, label_key: str, limit: int | None
) -> tuple[list[str], dict]:
    folder = SHARED / "datasets" / "expression" / dataset
    confusion = np.zeros((7, 7), dtype=int)
    uncertain, skipped = [], 0
    for row in rows(folder, limit):
        truth = row[label_key]
        if truth not in LABELS:
            skipped += 1
            continue
        [face] = engine.analyze(folder / row["path"], what=["expression"], aligned=True)
        scores = face.attributes["expression_scores"]
        guess = max(scores, key=scores.get)
        confusion[LABELS.index(truth), LABELS.index(guess)] += 1
        uncertain.append((face.attributes["expression"] == "uncertain", guess == truth))
    total = confusion.sum()
    acc = float(np.trace(confusion) / total)
    rejected = np.array(uncertain)
    reject_rate = float(rejected[:, 0].mean())
    kept = rejected[~rejected[:, 0]]
    acc_kept = float(kept[:, 1].mean()) if len(kept) else float("nan")
    wrong = rejected[~rejected[:, 1]]
    caught = float(wrong[:, 0].mean()) if len(wrong) else float("nan")
    lines = [
        f"**{dataset}**: {total} images, 7-class accuracy **{acc:.3f}**; open-set rule rejects "
        f'{reject_rate:.1%} as "uncertain" (accuracy on the rest {acc_kept:.3f}; '
        f"{caught:.1%} of the misclassified are rejected)"
        + (f"; {skipped} images of classes the model lacks left out" if skipped else ""),
        "",
        "| truth \\ predicted | " + " | ".join(LABELS) + " |",
        "|---" * 8 + "|",
    ]
    lines += [
        f"| {LABELS[i]} | " + " | ".join(str(v) for v in confusion[i]) + " |" for i in range(7)
    ]
    return lines, {
        "n": int(total),
        "accuracy": acc,
        "reject_rate": reject_rate,
        "accuracy_after_reject": acc_kept,
        "misclassified_rejected": caught,
        "confusion": confusion.tolist(),
        "skipped": skipped,
    }


def latency(engine: Engine) -> tuple[list[str], dict]:
    folder = SHARED / "datasets" / "identity" / "lfw_gray"
    images = [engine.load_image(folder / r["path"]) for r in rows(folder, 40)]
    dets = [engine.detector.detect(img)[:1] for img in images]
    pairs = [(img, d[0]) for img, d in zip(images, dets, strict=True) if d]
    lines = [f"| analyser | ms per face (median of {len(pairs)}) |", "|---|---|"]
    out = {}
    for name in ("age_gender", "expression", "pose", "quality", "mesh"):
        analyzer = create_analyzer(name, engine.settings)
        analyzer.analyze(*pairs[0])
        times = []
        for img, det in pairs:
            start = time.perf_counter()
            analyzer.analyze(img, det)
            times.append((time.perf_counter() - start) * 1000)
        out[name] = statistics.median(times)
        lines.append(f"| {name} | {out[name]:.1f} |")
    return lines, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="images per dataset")
    args = parser.parse_args()
    engine = Engine()
    ag_lines, ag = age_gender(engine, args.limit)
    fer_lines, fer = expression(engine, "fer2013_privatetest", "expression", args.limit)
    ck_lines, ck = expression(engine, "ckplus48", "expression", args.limit)
    lat_lines, lat = latency(engine)
    info = machine()
    markdown = "\n".join(
        [
            "# analysis_accuracy",
            "",
            f"{info}",
            "",
            *ag_lines,
            "",
            *fer_lines,
            "",
            *ck_lines,
            "",
            *lat_lines,
        ]
    )
    print(markdown)
    print(
        "written",
        write_result(
            "analysis_accuracy",
            markdown,
            {"machine": info, "utkface": ag, "fer2013": fer, "ckplus": ck, "latency_ms": lat},
        ),
    )


if __name__ == "__main__":
    main()
