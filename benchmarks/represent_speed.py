"""Images per second for detect + align + embed (the largest face), facewise vs face_recognition,
on the same photos in one run, and whether the two give the same embeddings.

    PYTHONPATH=.bench-peer python benchmarks/represent_speed.py [--images 200] [--rounds 3]

Systems are timed in alternating rounds (A B C A B C ...) in one process so machine noise hits all
of them alike; the figure reported is the median over rounds of each system's images/s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from common import (
    LFW,
    facewise_system,
    lfw_pairs,
    machine,
    peer_available,
    peer_system,
    write_result,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not peer_available():
        raise SystemExit("face_recognition is not installed: run `make bench`")

    paths = sorted({str(LFW / p["path_a"]) for p in lfw_pairs()})[: args.images]
    systems = {
        "face_recognition 1.3.0": peer_system(),
        "facewise default (2 threads)": facewise_system("auto", "dlib-resnet", None, threads=2),
        "facewise default (1 thread)": facewise_system("auto", "dlib-resnet", None, threads=1),
        "facewise hog, no flip (1 thread)": facewise_system("hog", "dlib-resnet", False, threads=1),
    }
    vectors: dict[str, list] = {}
    for name, represent in systems.items():  # warm-up: load models, first-call costs
        vectors[name] = [represent(p) for p in paths[:3]]
    rates: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(args.rounds):
        for name, represent in systems.items():
            start = time.perf_counter()
            vectors[name] = [represent(p) for p in paths]
            rates[name].append(len(paths) / (time.perf_counter() - start))

    peer = "face_recognition 1.3.0"
    speed = {name: statistics.median(r) for name, r in rates.items()}
    agree = []
    for ours, theirs in zip(
        vectors["facewise hog, no flip (1 thread)"], vectors[peer], strict=True
    ):
        if ours is not None and theirs is not None:
            agree.append(float(np.dot(ours, theirs / np.linalg.norm(theirs))))
    found = {name: sum(v is not None for v in vecs) for name, vecs in vectors.items()}
    lines = ["| system | images/s | ratio to face_recognition | faces found |", "|---|---|---|---|"]
    for name in systems:
        lines.append(
            f"| {name} | {speed[name]:.1f} | {speed[name] / speed[peer]:.2f}x | "
            f"{found[name]}/{len(paths)} |"
        )
    a = np.array(agree)
    agreement = (
        f"Embedding agreement (cosine, facewise hog/no flip vs face_recognition, {len(a)} "
        "images with a "
        f"face in both): median {np.median(a):.5f}, min {a.min():.4f}, "
        f"{(a > 0.99).mean():.1%} above 0.99."
    )
    info = machine()
    note = (
        f"{len(paths)} LFW images (250 x 250), largest face each, {args.rounds} alternating "
        f"rounds, median images/s; {info}."
    )
    markdown = "\n".join(["# represent_speed", "", note, "", *lines, "", agreement])
    print(markdown)
    print(
        "written",
        write_result(
            "represent_speed",
            markdown,
            {
                "machine": info,
                "images_per_s": speed,
                "rates": rates,
                "agreement_median": float(np.median(a)),
                "agreement_min": float(a.min()),
                "found": found,
            },
        ),
    )


if __name__ == "__main__":
    main()
