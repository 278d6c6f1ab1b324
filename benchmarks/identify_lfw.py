"""Open-set identification on LFW dev through the real gallery (SQLite store + index + templates).

Protocol A (single sample): gallery = the first photo of every person with >= 2 photos; mated
probes = their other photos; non-mated probes = every person with a single photo (distractors,
never enrolled). Protocol B (templates): people with >= 4 photos enrol 3, probe with the rest,
distractors as above; scored by best-of and by the quality-weighted mean template.
Reports closed-set rank-1/rank-5 and open-set FNIR at FPIR = 0.01 and 0.001.

    python benchmarks/identify_lfw.py [--write-thresholds]

With --write-thresholds, the FPIR thresholds of each template rule (from protocol B, the gallery
shape facewise recommends: several photos per person) go to src/facewise/models/thresholds.json.
"""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np

from common import DEFAULT, LFW, ROOT, embed_all, machine, write_result
from facewise import Engine
from facewise.compare import space_key
from facewise.evaluate.cache import resolve_pipeline
from facewise.evaluate.identify import open_set

THRESHOLD_FILE = ROOT / "src" / "facewise" / "models" / "thresholds.json"
FPIRS = (0.01, 0.001)


def load() -> tuple[list[str], np.ndarray, list[str]]:
    with (LFW / "manifest.csv").open(newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["path"])
    paths = [r["path"] for r in rows]
    vectors = embed_all(DEFAULT, [str(LFW / p) for p in paths], workers=2, tag="_manifest")
    return paths, vectors, [r["identity"] for r in rows]


def run_protocol(
    vectors: np.ndarray, people: list[str], n_enrol: int, min_photos: int, template: str
) -> dict:
    """The package's open-set protocol (facewise.evaluate.identify), images without a face left
    out as this benchmark always did, top-5 candidates."""
    run = open_set(
        vectors,
        people,
        enrol=n_enrol,
        min_photos=min_photos,
        template=template,
        pipeline=resolve_pipeline(),
        top=5,
        count_failures=False,
    )
    out = {
        "template": template,
        "enrolled_people": run.enrolled_people,
        "samples_per_person": n_enrol,
        "mated_probes": run.mated_probes,
        "non_mated_probes": run.non_mated_probes,
        "rank1": run.cmc(1),
        "rank5": run.cmc(5),
        "thresholds": {},
        "fnir": {},
    }
    for fpir in FPIRS:
        t = run.threshold(fpir)
        out["thresholds"][f"fpir={fpir:g}"] = t
        out["fnir"][f"fpir={fpir:g}"] = run.fnir(t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-thresholds", action="store_true")
    args = parser.parse_args()
    _, vectors, people = load()
    rows = [run_protocol(vectors, people, 1, 2, "best")]
    for template in ("best", "mean"):
        rows.append(run_protocol(vectors, people, 3, 4, template))
    lines = [
        "| protocol | template | people | mated / non-mated probes | rank-1 | rank-5 | "
        "FNIR@FPIR=0.01 | FNIR@FPIR=0.001 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = "A: 1 photo enrolled" if r["samples_per_person"] == 1 else "B: 3 photos enrolled"
        lines.append(
            f"| {name} | {r['template']} | {r['enrolled_people']} | "
            f"{r['mated_probes']} / {r['non_mated_probes']} | {r['rank1']:.4f} | "
            f"{r['rank5']:.4f} | {r['fnir']['fpir=0.01']:.4f} | "
            f"{r['fnir']['fpir=0.001']:.4f} |"
        )
    info = machine()
    note = (
        f"LFW grayscale dev images (manifest, {len(people)} images), facewise default pipeline "
        f"({DEFAULT}); distractors = people with one photo, never enrolled; {info}."
    )
    markdown = "\n".join(["# identify_lfw", "", note, "", *lines])
    print(markdown)
    print("written", write_result("identify_lfw", markdown, {"machine": info, "rows": rows}))
    if args.write_thresholds:
        table = json.loads(THRESHOLD_FILE.read_text())
        key = space_key(Engine().space)
        table[key]["identify"] = {
            r["template"]: {
                "thresholds": r["thresholds"],
                "gallery_people": r["enrolled_people"],
                "samples_per_person": r["samples_per_person"],
                "non_mated_probes": r["non_mated_probes"],
                "calibrated_on": f"LFW grayscale dev, {info['date']}, "
                "benchmarks/identify_lfw.py (protocol B)",
            }
            for r in rows[1:]
        }
        THRESHOLD_FILE.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
        print("written", THRESHOLD_FILE)


if __name__ == "__main__":
    main()
