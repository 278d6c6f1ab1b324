"""The temperature that calibrates ``expression_confidence`` (``analyzers/expression.py``).

    python training/expression_calibration.py

The mini-Xception's softmax is run on every FER-2013 PrivateTest and CK+ image (whole, as
``facewise analyze --aligned`` does). The temperature T (p_T ∝ p^(1/T)) is fitted by
log-likelihood on **FER-2013 half A only** (sha256 starting with an even hex digit); the
expected calibration error (top-class confidence, 10 bins) is reported on FER-2013 half B and
on CK+ (7 shared classes; "contempt" left out), before and after. FER-2013's training split is
what the network was trained on; PrivateTest is its test split.
"""

from __future__ import annotations

import csv
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import SHARED  # noqa: E402

EXPRESSION = SHARED / "datasets" / "expression"


def probabilities(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from facewise.analyzers.expression import LABELS, ExpressionAnalyzer, face_crop
    from facewise.io import load_image
    from facewise.types import BBox, Detection

    folder = EXPRESSION / name
    with (folder / "manifest.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["expression"] in LABELS]
    analyzer = ExpressionAnalyzer()
    probs, truth, even = [], [], []
    for row in sorted(rows, key=lambda r: r["path"]):
        image = load_image(folder / row["path"])
        h, w = image.shape[:2]
        whole = Detection(BBox(0.0, 0.0, float(w), float(h)), 1.0, None, "none")
        probs.append(analyzer.run(face_crop(image, whole)[None])[1][0])
        truth.append(LABELS.index(row["expression"]))
        even.append(int(row["sha256"][0], 16) % 2 == 0)
    return np.array(probs, dtype=np.float64), np.array(truth), np.array(even)


def tempered(p: np.ndarray, t: float) -> np.ndarray:
    z = np.log(np.clip(p, 1e-12, 1)) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ece(p: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    conf, guess = p.max(axis=1), p.argmax(axis=1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.sum() * abs(float((guess[sel] == truth[sel]).mean()) - conf[sel].mean())
    return total / len(truth)


def main() -> None:
    from scipy.optimize import minimize_scalar

    fer, fer_truth, fer_even = probabilities("fer2013_privatetest")
    ck, ck_truth, _ = probabilities("ckplus48")
    a, b = fer[fer_even], fer[~fer_even]

    def nll(t: float) -> float:
        q = tempered(a, t)
        return -float(np.mean(np.log(q[np.arange(len(a)), fer_truth[fer_even]] + 1e-12)))

    t = float(minimize_scalar(nll, bounds=(0.2, 5.0), method="bounded").x)
    print(f"temperature (FER-2013 half A, {len(a)} images): {t:.4f}")
    for label, p, y in (("FER-2013 half B", b, fer_truth[~fer_even]), ("CK+", ck, ck_truth)):
        print(
            f"  {label} ({len(y)}): ECE {ece(p, y):.3f} raw -> {ece(tempered(p, t), y):.3f} "
            f"at T={t:.2f}; accuracy {np.mean(p.argmax(axis=1) == y):.3f}"
        )


if __name__ == "__main__":
    main()
