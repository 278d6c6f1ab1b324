"""Cold start of the CLI: `facewise verify a.jpg b.jpg --json` in a fresh process, with the dlib
ResNet's ONNX graph converted from the .dat (the cache folder just emptied: what every process
paid before the graph cache) and loaded from the cache (the run after).

Each repetition empties a private cache folder (FACEWISE_CACHE), runs the command once (miss:
converts and writes the cache) and once more (hit: reads and verifies it). Wall time of the whole
process, median over the repetitions; both runs must print the same JSON.

    .venv/bin/python benchmarks/cold_start.py [--repeat 7]
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
    args = parser.parse_args()
    a, b = (LFW / "images" / p for p in PAIR)
    if not a.is_file():
        sys.exit(f"LFW not found at {LFW} (set FACEWISE_SHARED)")
    exe = Path(sys.executable).with_name("facewise")
    cmd = [str(exe), "verify", str(a), str(b), "--json"]
    cache = Path(tempfile.mkdtemp(prefix="facewise-cold-"))
    env = {**os.environ, "FACEWISE_CACHE": str(cache / "c")}
    miss, hit = [], []
    outputs = set()
    try:
        for _ in range(args.repeat):
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
        ("graph converted from the .dat (cache emptied; = every process before)", miss),
        ("graph loaded from the cache", hit),
    ]
    lines = [
        "# Cold start: `facewise verify a.jpg b.jpg --json`, one fresh process each",
        "",
        f"LFW pair {PAIR[0]} vs {PAIR[1]} (score {result['score']}, verified "
        f"{result['verified']}); {args.repeat} repetitions, alternating miss/hit, wall seconds "
        f"of the whole process; {machine()['cpus']} CPUs.",
        "",
        "| run | median s | min s | max s |",
        "|---|---|---|---|",
        *(f"| {name} | {statistics.median(t):.2f} | {min(t):.2f} | {max(t):.2f} |"
          for name, t in rows),
        "",
        f"Saved per process: {m - h:.2f} s ({(m - h) / m:.0%}). Both runs print identical JSON.",
    ]
    print("\n".join(lines))
    path = write_result("cold_start", "\n".join(lines), {
        "command": " ".join(["facewise", "verify", PAIR[0], PAIR[1], "--json"]),
        "repeat": args.repeat,
        "miss_s": miss,
        "hit_s": hit,
        "median_miss_s": m,
        "median_hit_s": h,
        "score": result["score"],
        "machine": machine(),
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
