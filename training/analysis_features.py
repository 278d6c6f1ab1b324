"""Features of the labelled dev faces that the age/gender heads are trained and measured on.

    python training/analysis_features.py [--limit N]

For each UTKFace dev image and 1,000 LFW dev images (one per person, the first by sha256, with
a gender label), the face is found as ``facewise analyze`` finds it (the default detector, the
largest face; the whole image for a crop where none is found), then:

- ``gender_probs`` (2,) and ``age_probs`` (81,): the bundled networks' outputs (with flip), as
  ``AgeGenderAnalyzer.probabilities`` gives them;
- ``embedding`` (128,): the dlib ResNet descriptor of the same face (no flip), as
  ``AgeGenderAnalyzer.embedding`` gives it.

Written to ``benchmarks/.cache/analysis_features_<set>.npz`` (never committed: derived from
the research-only datasets) with the labels and the sha256 of each image.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import CACHE, SHARED  # noqa: E402

UTK = SHARED / "datasets" / "age_gender" / "utkface_subset"
LFW = SHARED / "datasets" / "identity" / "lfw_gray"


def utk_rows() -> list[dict[str, str]]:
    with (UTK / "manifest.csv").open(newline="") as fh:
        return sorted(csv.DictReader(fh), key=lambda r: r["path"])


def lfw_rows(count: int = 1000) -> list[dict[str, str]]:
    with (LFW / "manifest.csv").open(newline="") as fh:
        data = sorted(csv.DictReader(fh), key=lambda r: r["sha256"])
    seen: set[str] = set()
    out = []
    for row in data:
        if row["gender"] in ("male", "female") and row["identity"] not in seen:
            seen.add(row["identity"])
            out.append(row)
    return out[:count]


def extract(name: str, folder: Path, data: list[dict[str, str]]) -> Path:
    from facewise import Engine
    from facewise.analyzers.age_gender import AgeGenderAnalyzer
    from facewise.engine import _looks_like_crop, largest_detection
    from facewise.types import BBox, Detection

    engine = Engine()
    analyzer = AgeGenderAnalyzer()
    gender, ages, vectors, detected = [], [], [], []
    for i, row in enumerate(data):
        image = engine.load_image(folder / row["path"])
        h, w = image.shape[:2]
        found = engine.detector.detect(image)
        ok = bool(found)
        if not found and _looks_like_crop(h, w):
            found = [Detection(BBox(0.0, 0.0, float(w), float(h)), 1.0, None, "none")]
        det = largest_detection(found)
        g, a = analyzer.probabilities(image, det)
        gender.append(g)
        ages.append(a)
        vectors.append(analyzer.embedding(image, det))
        detected.append(ok)
        if i % 200 == 0:
            print(name, i, flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"analysis_features_{name}.npz"
    np.savez(
        out,
        gender_probs=np.array(gender),
        age_probs=np.array(ages),
        embedding=np.array(vectors),
        detected=np.array(detected),
        sha256=np.array([r["sha256"] for r in data]),
        gender=np.array([r["gender"] for r in data]),
        age=np.array([float(r.get("age") or "nan") for r in data]),
        race=np.array([r.get("race", "") for r in data]),
        age_bin=np.array([r.get("age_bin", "") for r in data]),
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--only", choices=["utk", "lfw"], default=None)
    args = parser.parse_args()
    if args.only in (None, "utk"):
        print("written", extract("utk", UTK, utk_rows()[: args.limit]))
    if args.only in (None, "lfw"):
        print("written", extract("lfw", LFW, lfw_rows()[: args.limit]))


if __name__ == "__main__":
    main()
