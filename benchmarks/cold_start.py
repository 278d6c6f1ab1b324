"""Cold start of the CLI: `facewise verify a.jpg b.jpg --json` in a fresh process, with the dlib
ResNet's ONNX graph converted from the .dat (the cache folder just emptied: what every process
paid before the graph cache) and loaded from the cache (the run after).

Each repetition empties a private cache folder (FACEWISE_CACHE), runs the command once (miss:
converts and writes the cache) and once more (hit: reads and verifies it). With ``--before SRC``
(a ``src/`` folder of the code before the cache, e.g. from ``git archive cb5f889^ src``) each
repetition first runs that code too, as ``python -m facewise`` with PYTHONPATH=SRC. Wall time of
the whole process, median over the repetitions; every run must print the same JSON.

    .venv/bin/python benchmarks/cold_start.py [--repeat 7] [--before /tmp/fw-before/src]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import LFW, machine, write_result

PAIR = ("Aaron_Sorkin/Aaron_Sorkin_0001.jpg", "Aaron_Sorkin/Aaron_Sorkin_0002.jpg")


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--before", type=Path, help="src/ of the code before the graph cache")
    args = parser.parse_args()
    a, b = (LFW / "images" / p for p in PAIR)
    if not a.is_file():
        sys.exit(f"LFW not found at {LFW} (set FACEWISE_SHARED)")
    exe = Path(sys.executable).with_name("facewise")
    cmd = [str(exe), "verify", str(a), str(b), "--json"]
    cache = Path(tempfile.mkdtemp(prefix="facewise-cold-"))
    env = {**os.environ, "FACEWISE_CACHE": str(cache / "c")}
    miss, hit, before = [], [], []
    outputs = set()
    old_cmd = [sys.executable, "-m", "facewise", *cmd[1:]]
    old_env = {**env, "PYTHONPATH": str(args.before.resolve())} if args.before else env
    try:
        for _ in range(args.repeat):
            if args.before:
                seconds, out = run(old_cmd, old_env)
                before.append(seconds)
                outputs.add(out)
            shutil.rmtree(cache / "c", ignore_errors=True)
            seconds, out = run(cmd, env)
            miss.append(seconds)
            outputs.add(out)
            seconds, out = run(cmd, env)
            hit.append(seconds)
            outputs.add(out)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if len(outputs) != 1:
        sys.exit("the cached graph gave another answer than the converted one")
    result = json.loads(outputs.pop())
    m, h = statistics.median(miss), statistics.median(hit)
    rows = [
        *([("before the cache (the code at --before)", before)] if before else []),
        ("graph converted from the .dat, cache emptied (miss: converts, writes)", miss),
        ("graph loaded from the cache (hit)", hit),
    ]
    lines = [
        "# Cold start: `facewise verify a.jpg b.jpg --json`, one fresh process each",
        "",
        f"LFW pair {PAIR[0]} vs {PAIR[1]} (score {result['score']}, verified "
        f"{result['verified']}); {args.repeat} repetitions, each runs the rows in order, wall "
        f"seconds of the whole process; {machine()['cpus']} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end (other jobs on the machine).",
        "",
        "| run | median s | min s | max s |",
        "|---|---|---|---|",
        *(
            f"| {name} | {statistics.median(t):.2f} | {min(t):.2f} | {max(t):.2f} |"
            for name, t in rows
        ),
        "",
        f"Saved per process by a hit: {m - h:.2f} s ({(m - h) / m:.0%}) against a miss"
        + (f", {statistics.median(before) - h:.2f} s against the code before" if before else "")
        + "; median of the paired differences (same repetition): "
        + f"{statistics.median(x - y for x, y in zip(miss, hit, strict=True)):.2f} s vs a miss"
        + (
            f", {statistics.median(x - y for x, y in zip(before, hit, strict=True)):.2f} s "
            "vs before"
            if before
            else ""
        )
        + ". Every run printed identical JSON.",
    ]
    print("\n".join(lines))
    path = write_result(
        "cold_start",
        "\n".join(lines),
        {
            "command": " ".join(["facewise", "verify", PAIR[0], PAIR[1], "--json"]),
            "repeat": args.repeat,
            "miss_s": miss,
            "hit_s": hit,
            "before_s": before,
            "median_miss_s": m,
            "median_hit_s": h,
            "score": result["score"],
            "machine": machine(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
