"""The evaluation lab on LFW dev (folds 1-5): every ``facewise eval`` command, reference results.

Writes, dated, under benchmarks/results/: eval-<name>-DATE.json and .html for each run (the
JSON is what ``facewise eval <command> --json`` prints, the HTML its report) and a summary table
eval-lfw-DATE.md/.json. Embeddings are cached in benchmarks/.cache/eval (resumable).

    python benchmarks/eval_lfw.py [--only verify,fairness,...] [--mmod] [--workers 2]

The same runs from the command line (LFW=../shared/datasets/identity/lfw_gray):

    facewise eval verify --pairs $LFW/pairs.csv --report verify.html
    facewise eval fairness --manifest $LFW/manifest.csv --group gender --pairs $LFW/pairs.csv
    facewise eval fairness --manifest $LFW/manifest.csv --group gender
    facewise eval identify --manifest $LFW/manifest.csv [--enrol 3 --min-photos 4]
    facewise eval robustness --pairs $LFW/pairs.csv
    facewise eval budget --pairs $LFW/pairs.csv [--detectors hog,mtcnn,hog+mtcnn,mmod]
    facewise eval compare --pairs $LFW/pairs.csv --system default \\
        --system dlib-resnet/hog+mtcnn/noflip --system dlib-resnet/hog/flip \\
        --system dlib-resnet/mmod/flip \\
        --system facenet/mtcnn/flip
    facewise eval compare --pairs $LFW/pairs.csv --system default --system facenet/mtcnn/flip --fuse
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import LFW, RESULTS, ROOT, machine, write_result
from facewise.evaluate.budget import DETECTORS, configurations, run_budget
from facewise.evaluate.cache import resolve_pipeline
from facewise.evaluate.compare import parse_system, run_compare
from facewise.evaluate.datasets import load_manifest, load_pairs
from facewise.evaluate.fairness import run_fairness
from facewise.evaluate.identify import run_identify
from facewise.evaluate.result import LabResult as Evaluation
from facewise.evaluate.robustness import run_robustness
from facewise.evaluate.verify import run_verify

CACHE = ROOT / "benchmarks" / ".cache" / "eval"
COMPARED = [
    "default",
    "dlib-resnet/hog+mtcnn/noflip",
    "dlib-resnet/hog/flip",
    "dlib-resnet/mmod/flip",
    "facenet/mtcnn/flip",
]


def progress(label: str) -> Callable[[int, int], None]:
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if total and (done == total or now - last[0] > 30):
            last[0] = now
            print(f"  {label}: {done}/{total} images embedded", flush=True)

    return show


def pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


def ci(pair: list[float] | None, scale: float = 100, digits: int = 2) -> str:
    return "—" if not pair else f"[{scale * pair[0]:.{digits}f}, {scale * pair[1]:.{digits}f}]"


def summary(name: str, d: dict[str, Any]) -> list[str]:
    """Markdown lines with the headline figures of one run."""
    if d["kind"] == "verify":
        tars = ", ".join(
            f"{k}: {pct(v)} {ci(d['tar_at_far_ci95'][k])}" for k, v in d["tar_at_far"].items()
        )
        return [
            f"- accuracy {pct(d['accuracy'])} ± {pct(d['accuracy_std'])} "
            f"(95% CI {ci(d['accuracy_ci95'])}), AUC {d['auc']:.4f}, EER {pct(d['eer'])} "
            f"{ci(d['eer_ci95'])}, failed pairs {d['failed_pairs']}",
            f"- TAR at FAR {tars}; not supported: {', '.join(d['tar_at_far_unsupported'])}",
        ]
    if d["kind"] == "fairness":
        out = [
            f"- {d['pairs_source']}; threshold {d['threshold']:.4f} ({d['threshold_source']})",
            "",
            "| group | genuine pairs | FNMR (95% CI) | impostor pairs | FMR (95% CI) | warnings |",
            "|---|---|---|---|---|---|",
        ]
        for g in [*d["groups"], *({**c, "group": c["groups"]} for c in d["cross_group"])]:
            fnmr = f"{pct(g['fnmr'])} {ci(g['fnmr_ci95'])}" if g["genuine_pairs"] else "—"
            out.append(
                f"| {g['group']} | {g['genuine_pairs']:,} | {fnmr} "
                f"| {g['impostor_pairs']:,} | {pct(g['fmr'])} "
                f"{ci(g['fmr_ci95'], digits=3)} | {'; '.join(g['warnings'])} |"
            )
        for kind in ("fmr", "fnmr"):
            r = d[f"{kind}_ratio"]
            if not r.get("max_group"):
                out.append(f"\n- {kind.upper()} max/min: {r['note']}")
                continue
            value = "unbounded" if r.get("value") is None else f"{r['value']:.2f}x"
            interval = r.get("interval") or [None, None]
            shown = ", ".join("∞" if x is None else f"{x:.2f}" for x in interval)
            out.append(
                f"\n- {kind.upper()} max/min: {value} ({r.get('max_group')} / "
                f"{r.get('min_group')}), conservative interval [{shown}], "
                f"judgeable: {r.get('judgeable')}"
            )
        return out
    if d["kind"] == "identify":
        fnir = ", ".join(f"{k}: {pct(v)}" for k, v in d["fnir_at_fpir"].items())
        sizes = ", ".join(
            f"{c['people']}: {pct(c['rank1'])} / {pct(c['fnir_at_fpir'].get('0.01'))}"
            for c in d["gallery_size"]
        )
        return [
            f"- {d['enrolled_people']} people, {d['protocol']['enrol']} photo(s) each "
            f"({d['protocol']['template']} template); {d['mated_probes']} mated / "
            f"{d['non_mated_probes']} non-mated probes",
            f"- rank-1 {pct(d['rank1'])} {ci(d['rank1_ci95'])}, rank-5 {pct(d['cmc']['5'])}, "
            f"rank-20 {pct(d['cmc']['20'])}; FNIR at FPIR {fnir}",
            f"- gallery size (people: rank-1 / FNIR@FPIR=0.01): {sizes}",
        ]
    if d["kind"] == "robustness":
        out = [
            f"- clean: accuracy {pct(d['clean']['accuracy'])}, TAR@FAR={d['far_key']} "
            f"{pct(d['clean']['tar_at_far'])}, FMR at clean threshold "
            f"{pct(d['clean']['fmr_clean_threshold'])}",
            "",
            f"| degradation | severity | accuracy | TAR@FAR={d['far_key']} | FMR at clean "
            "threshold | probes without a face |",
            "|---|---|---|---|---|---|",
        ]
        for deg in d["degradations"]:
            for r in deg["rows"]:
                out.append(
                    f"| {deg['kind']} | {r['severity']:g} | {pct(r['accuracy'])} ± "
                    f"{pct(r['accuracy_std'])} | {pct(r['tar_at_far'])} | "
                    f"{pct(r['fmr_clean_threshold'])} | {r['failed_probes']} / {d['probes']} |"
                )
        return out
    if d["kind"] == "budget":
        out = ["| configuration | accuracy | ms per face | failed pairs |", "|---|---|---|---|"]
        out += [
            f"| {c['config']} | {pct(c['accuracy'])} ± {pct(c['accuracy_std'])} | "
            f"{c['ms_per_face']:.1f} | {c['failed_pairs']} |"
            for c in sorted(d["configs"], key=lambda c: c["ms_per_face"])
        ]
        out.append("")
        out += [
            f"- ≤ {t} ms: "
            + (
                f"{b['config']} {pct(b['accuracy'])} ({b['ms_per_face']:.1f} ms)"
                if b
                else "none fits"
            )
            for t, b in d["tiers"].items()
        ]
        return out
    if d["kind"] == "compare":
        out = [
            f"- {s['name']}: {pct(s['accuracy'])} ± {pct(s['accuracy_std'])}, EER {pct(s['eer'])}"
            for s in d["systems"]
        ]
        out += [
            f"- {x['system']} − baseline: {100 * x['accuracy_diff']:+.2f} pts "
            f"{ci(x['ci95'])}{' (significant)' if x['significant'] else ''}"
            for x in d["differences"]
        ]
        return out
    return []


def tile_plots(report: Path, target: Path, columns: int = 3) -> None:
    """The report's embedded PNG plots side by side in one PNG (rows of ``columns``)."""
    from PIL import Image

    found = re.findall(r'src="data:image/png;base64,([^"]+)"', report.read_text())
    plots = [Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB") for b in found]
    if not plots:
        return
    w, h = max(p.width for p in plots), max(p.height for p in plots)
    rows = -(-len(plots) // columns)
    sheet = Image.new("RGB", (w * min(columns, len(plots)), h * rows), "white")
    for i, p in enumerate(plots):
        sheet.paste(p, ((i % columns) * w, (i // columns) * h))
    sheet.save(target, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated run names")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mmod", action="store_true", help="add the MMOD detector to budget")
    args = parser.parse_args()
    if not (LFW / "pairs.csv").is_file():
        sys.exit(f"LFW not found at {LFW} (set FACEWISE_SHARED)")
    pairs = load_pairs(LFW / "pairs.csv")
    manifest = load_manifest(LFW / "manifest.csv")
    default = resolve_pipeline()
    common: dict[str, Any] = {"cache_dir": CACHE, "workers": args.workers}
    detectors = (*DETECTORS, "mmod") if args.mmod else DETECTORS
    runs: dict[str, Callable[[], Evaluation]] = {
        "verify": lambda: run_verify(pairs, default, progress=progress("verify"), **common),
        "fairness-gender": lambda: run_fairness(
            manifest, "gender", default, pairs=pairs, progress=progress("fairness"), **common
        ),
        "fairness-gender-allpairs": lambda: run_fairness(
            manifest, "gender", default, progress=progress("fairness"), **common
        ),
        "identify": lambda: run_identify(
            manifest, default, progress=progress("identify"), **common
        ),
        "identify-enrol3": lambda: run_identify(
            manifest, default, enrol=3, min_photos=4, progress=progress("identify"), **common
        ),
        "compare": lambda: run_compare(
            pairs, [parse_system(s) for s in COMPARED], progress=progress("compare"), **common
        ),
        "compare-fusion": lambda: run_compare(
            pairs,
            [parse_system(s) for s in ("default", "facenet/mtcnn/flip")],
            fuse=True,
            progress=progress("compare"),
            **common,
        ),
        "budget": lambda: run_budget(
            pairs, configurations(detectors), progress=progress("budget"), **common
        ),
        "robustness": lambda: run_robustness(
            pairs, default, progress=lambda label: progress(f"robustness {label}"), **common
        ),
    }
    wanted = [n for n in args.only.split(",") if n] or list(runs)
    day = dt.date.today().isoformat()
    RESULTS.mkdir(parents=True, exist_ok=True)
    index_file = RESULTS / f"eval-lfw-{day}.json"
    done: dict[str, Any] = {}
    if index_file.is_file():  # keep the runs not redone this time
        done = json.loads(index_file.read_text())["runs"]
    for name in wanted:
        start = time.perf_counter()
        print(f"{name} ...", flush=True)
        ev = runs[name]()
        ev.write_json(RESULTS / f"eval-{name}-{day}.json")
        report = ev.write_report(RESULTS / f"eval-{name}-{day}.html")
        if name == "robustness":  # the curves, as one picture for the README
            tile_plots(report, RESULTS / f"eval-{name}-{day}.png")
        done[name] = {"seconds": round(time.perf_counter() - start, 1), "data": ev.data}
        print(f"{name}: {done[name]['seconds']} s", flush=True)
    info = machine()
    lines = [
        "# eval_lfw",
        "",
        f"LFW (grayscale copy) dev folds 1-5: {len(pairs):,} pairs, {len(manifest):,} "
        f"images in the manifest; default pipeline {default.label}; {info}. "
        "JSON and HTML report of each run: eval-<run>-DATE.json/.html beside this file.",
    ]
    for name in runs:
        if name in done:
            lines += ["", f"## {name}", "", *summary(name, done[name]["data"])]
    target = write_result("eval-lfw", "\n".join(lines), {"machine": info, "runs": done})
    print("\n".join(lines))
    print("written", target)


if __name__ == "__main__":
    main()
