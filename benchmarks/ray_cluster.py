"""Batch jobs on a Ray cluster: photos/s of enrol, identify and cluster with 1 and 2 nodes here.

    python benchmarks/ray_cluster.py [--photos 60] [--cpus-per-node 1]

Starts a real Ray head (and, for the 2-node run, a worker node) with ``ray start`` as separate
processes (tests/cluster_ray/ray_nodes.py: free ports, a private temp dir, stopped by process
id), joins it, and runs each job through its address on LFW photos (links in a temporary
folder, nothing copied into the repo): ``enrol_folder`` into a SQLite gallery (every node is on
this host, so the local file is allowed), ``identify_tree`` into JSON lines, and
``cluster.distributed.add_tree`` (scan + sharded kNN + clustering). Each job is first run on a
few other photos, so the workers have loaded their models before the clock starts: the figures
are steady-state throughput, not start-up. Per-core = photos/s over the cluster's CPUs. The plan
for 10M and 100M photos is arithmetic on those figures (written with the result).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import LFW, ROOT, machine, write_result

sys.path.insert(0, str(ROOT / "tests" / "cluster_ray"))
from ray_nodes import Cluster, ray_env

from facewise import Engine
from facewise.cluster.collection import Collection
from facewise.cluster.distributed import add_tree
from facewise.gallery import Gallery
from facewise.gallery.batch import enrol_folder, expand_images
from facewise.gallery.cluster_exec import Resources
from facewise.gallery.cluster_jobs import identify_tree

RESOURCES = Resources(num_cpus=1, memory=600 * 1024 * 1024)
NODE_CORES = 16  # the plan's node: 16 cores (one task per core, 1 GB each)


def photos_tree(root: Path, rows: list[dict[str, str]]) -> Path:
    for row in rows:
        target = root / row["identity"] / Path(row["path"]).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(LFW / row["path"])
    return root


def run_jobs(
    address: str, tmp: Path, warm: list[dict[str, str]], timed: list[dict[str, str]]
) -> dict[str, float]:
    engine = Engine()
    out: dict[str, float] = {}
    with Gallery(tmp / "home", engine) as gallery:
        for label, rows in (("warm", warm), ("timed", timed)):
            folder = photos_tree(tmp / f"enrol-{label}", rows)
            start = time.perf_counter()
            done = enrol_folder(
                gallery, folder, consent="benchmark", expires_at=None, address=address,
                resources=RESOURCES, progress=False,
            )  # fmt: skip
            if label == "timed":
                out["enrol"] = done["images"] / (time.perf_counter() - start)
        for label, rows in (("warm", warm), ("timed", timed)):
            paths = expand_images([str(photos_tree(tmp / f"probe-{label}", rows))])
            start = time.perf_counter()
            identify_tree(
                gallery, paths, tmp / f"{label}.jsonl", actor="benchmark", address=address,
                resources=RESOURCES,
            )  # fmt: skip
            if label == "timed":
                out["identify"] = len(paths) / (time.perf_counter() - start)
    for label, rows in (("warm", warm), ("timed", timed)):
        paths = expand_images([str(photos_tree(tmp / f"coll-{label}", rows))])
        with Collection(tmp / f"collection-{label}", engine) as coll:
            start = time.perf_counter()
            add_tree(coll, paths, address=address, resources=RESOURCES)
            if label == "timed":
                out["cluster"] = len(paths) / (time.perf_counter() - start)
    return out


def driver_cost(rows: list[dict[str, str]], probes: int = 40) -> dict[str, float]:
    """What the identify driver spends per photo (the decision, and the audit event) on a
    gallery of ``rows``, the photos embedded beforehand: its ceiling is 1000 / ms photos/s."""
    engine = Engine()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = photos_tree(Path(tmp) / "people", rows)
        with Gallery(Path(tmp) / "home", engine) as gallery:
            enrol_folder(gallery, folder, consent="benchmark", expires_at=None, workers=1)
            faces = [engine.embed(LFW / r["path"]) for r in rows[:probes]]
            gallery.threshold()
            for label, actor in (("decide_ms", None), ("decide_and_audit_ms", "benchmark")):
                start = time.perf_counter()
                for found in faces:
                    gallery.identify_faces(found, top=5, actor=actor, image_sha256="0" * 64)
                out[label] = round((time.perf_counter() - start) / len(faces) * 1000, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--cpus-per-node", type=int, default=1)
    parser.add_argument(
        "--driver-only", action="store_true", help="Only the identify driver's ms per photo."
    )
    args = parser.parse_args()
    with (LFW / "manifest.csv").open(newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["path"])
    if args.driver_only:
        print(driver_cost(rows[2000:2060]), f"(load average {os.getloadavg()[0]:.2f})")
        return
    warm, timed = rows[1000:1008], rows[2000 : 2000 + args.photos]
    os.environ.update({k: ray_env()[k] for k in ("RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED")})
    import ray

    figures: dict[int, dict[str, float]] = {}
    for nodes in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            cluster = Cluster(Path(tmp) / "ray", cpus=args.cpus_per_node, workers=nodes - 1)
            try:
                ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
                figures[nodes] = run_jobs(cluster.address, Path(tmp), warm, timed)
            finally:
                ray.shutdown()
                cluster.stop()
        print(nodes, "node(s):", {k: round(v, 2) for k, v in figures[nodes].items()}, flush=True)
    md = [
        f"# Batch jobs on Ray: {args.photos} LFW photos, nodes of {args.cpus_per_node} CPU "
        f"({machine()['cpus']} cores shared, {machine()['date']})",
        "",
        "| job | 1 node photos/s | 2 nodes photos/s | per core (1 node) | per core (2 nodes) "
        "| 2-node scaling |",
        "|---|---|---|---|---|---|",
    ]
    plan: dict[str, Any] = {}
    for job in ("enrol", "identify", "cluster"):
        one, two = figures[1][job], figures[2][job]
        per_core = two / (2 * args.cpus_per_node)
        md.append(
            f"| {job} | {one:.2f} | {two:.2f} | {one / args.cpus_per_node:.2f} | {per_core:.2f} "
            f"| {two / one:.2f}x |"
        )
        node_rate = per_core * NODE_CORES
        plan[job] = {
            str(total): {str(n): round(total / (n * node_rate) / 3600, 1) for n in (10, 50, 100)}
            for total in (10_000_000, 100_000_000)
        }
    md += [
        "",
        f"Plan ({NODE_CORES}-core nodes at the 2-node per-core rate; hours):",
        "",
        "| job | photos | 10 nodes | 50 nodes | 100 nodes |",
        "|---|---|---|---|---|",
    ]
    for job, by_total in plan.items():
        for total, hours in by_total.items():
            md.append(
                f"| {job} | {int(total) // 1_000_000}M | {hours['10']} | {hours['50']} "
                f"| {hours['100']} |"
            )
    text = "\n".join(md)
    print(text)
    write_result(
        "ray_cluster",
        text,
        {"machine": machine(), "photos": args.photos, "figures": figures, "plan_hours": plan},
    )


if __name__ == "__main__":
    main()
