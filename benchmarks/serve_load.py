"""Load on the REST service: `facewise serve` with N uvicorn workers, identify plus some enrolment.

    python benchmarks/serve_load.py [--seconds 60] [--workers 2] [--clients 8] [--enrol-share 0.05]

Starts `facewise serve` on 127.0.0.1 (a free port) with a temporary FACEWISE_HOME, enrols a few
LFW people through the API, then for --seconds runs --clients concurrent clients (threads, one
httpx connection and one API key each, default settings, rate limit included): each sends
`POST /v1/identify` with a one-face LFW photo, and with probability --enrol-share
`POST /v1/people/{name}/samples` with a photo never sent before. Afterwards every acknowledged
enrolment (201, enrolled=1) is looked up in the gallery through the API (its source is the photo's
file name): one that is missing is a lost write. Reports requests/s, p50/p99 latency per kind,
errors by status, lost writes, whether the audit chain verifies, and the worker count.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from common import LFW, machine, write_result
from facewise.server.keys import KeyStore

PEOPLE = ("Colin_Powell", "Tony_Blair", "Hugo_Chavez", "Jacques_Chirac", "Laura_Bush")
ENROL_FIRST = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def photos() -> dict[str, list[Path]]:
    by: dict[str, list[Path]] = defaultdict(list)
    with (LFW / "manifest.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["identity"] in PEOPLE:
                by[row["identity"]].append(LFW / row["path"])
    return {name: sorted(by[name]) for name in PEOPLE}


def start_server(home: Path, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FACEWISE_HOME": str(home)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "facewise",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            sys.exit(f"facewise serve exited:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            sys.exit(f"facewise serve not ready after 180 s:\n{log.read_text()}")
        time.sleep(0.3)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--enrol-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    by_person = photos()
    probes = [
        (name, p) for name, ps in by_person.items() for p in ps[ENROL_FIRST : ENROL_FIRST + 8]
    ]
    spare = [(name, p) for name, ps in by_person.items() for p in ps[ENROL_FIRST + 8 :]]
    random.Random(args.seed).shuffle(spare)
    spare_lock = threading.Lock()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        with KeyStore(home) as store:
            admin = store.create("admin", name="bench-admin")[0]
            client_keys = [
                store.create("enrol", name=f"client-{i}")[0] for i in range(args.clients)
            ]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = Path(tmp) / "server.log"
        process = start_server(home, port, args.workers, log)
        try:
            auth = {"Authorization": f"Bearer {admin}"}
            for name, ps in by_person.items():
                response = httpx.post(
                    f"{url}/v1/people",
                    headers=auth,
                    timeout=120,
                    data={"name": name, "consent": "benchmark"},
                    files=[
                        ("images", (p.name, p.read_bytes(), "image/jpeg")) for p in ps[:ENROL_FIRST]
                    ],
                )
                response.raise_for_status()

            records: list[tuple[str, int, float]] = []  # (kind, status, seconds)
            acked: list[tuple[str, str]] = []  # (person, file name) answered 201 enrolled=1
            correct = Counter[str]()
            lock = threading.Lock()
            start = time.monotonic()
            deadline = start + args.seconds

            def client(index: int) -> None:
                rng = random.Random(args.seed * 1000 + index)
                headers = {"Authorization": f"Bearer {client_keys[index]}"}
                with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
                    while time.monotonic() < deadline:
                        item = None
                        if rng.random() < args.enrol_share:
                            with spare_lock:
                                item = spare.pop() if spare else None
                        began = time.perf_counter()
                        try:
                            if item is not None:
                                name, photo = item
                                response = http.post(
                                    f"/v1/people/{name}/samples",
                                    data={"consent": "benchmark"},
                                    files={
                                        "images": (photo.name, photo.read_bytes(), "image/jpeg")
                                    },
                                )
                                kind = "enrol"
                            else:
                                name, photo = probes[rng.randrange(len(probes))]
                                response = http.post(
                                    "/v1/identify",
                                    files={"image": (photo.name, photo.read_bytes(), "image/jpeg")},
                                )
                                kind = "identify"
                            status = response.status_code
                        except httpx.TransportError:
                            kind, status = ("enrol" if item else "identify"), 0
                        elapsed = time.perf_counter() - began
                        with lock:
                            records.append((kind, status, elapsed))
                            if kind == "enrol" and status == 201:
                                if response.json()["enrolled"] == 1:
                                    acked.append((name, photo.name))
                            elif kind == "identify" and status == 200:
                                faces = response.json()["faces"]
                                correct["probes"] += 1
                                correct["hits"] += bool(faces) and faces[0]["person"] == name

            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - start

            stored: dict[str, set[str]] = {}
            for name in by_person:
                shown = httpx.get(f"{url}/v1/people/{name}", headers=auth, timeout=60).json()
                stored[name] = {s["source"] for s in shown["samples"]}
            lost = [(n, f) for n, f in acked if f not in stored[n]]
            audit = httpx.get(f"{url}/v1/audit/verify", headers=auth, timeout=120).json()
            if any(status == 0 for _, status, _ in records):
                print("connection errors; the server log ends:", file=sys.stderr)
                print("\n".join(log.read_text().splitlines()[-60:]), file=sys.stderr)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()

    statuses = Counter(status for _, status, _ in records)
    answers = {str(s): n for s, n in sorted(statuses.items()) if not 200 <= s < 300}
    # an enrolment photo without one usable face is refused by design (422 nothing_enrolled);
    # everything else that is not 2xx (5xx, 4xx, 429, a dropped connection = 0) is an error
    refused = sum(1 for k, s, _ in records if k == "enrol" and s == 422)
    errors = {
        str(s): n
        for s, n in sorted(
            Counter(
                s for k, s, _ in records if not 200 <= s < 300 and not (k == "enrol" and s == 422)
            ).items()
        )
    }
    latency = {
        kind: [t for k, s, t in records if k == kind and 200 <= s < 300]
        for kind in ("identify", "enrol")
    }
    summary: dict[str, Any] = {
        "seconds": round(wall, 1),
        "workers": args.workers,
        "clients": args.clients,
        "enrol_share": args.enrol_share,
        "people": len(by_person),
        "requests": len(records),
        "requests_per_second": round(len(records) / wall, 2),
        "identify_per_second": round(len(latency["identify"]) / wall, 2),
        "enrol_per_second": round(len(latency["enrol"]) / wall, 2),
        "identify_p50_ms": round(percentile(latency["identify"], 50), 1),
        "identify_p99_ms": round(percentile(latency["identify"], 99), 1),
        "enrol_p50_ms": round(percentile(latency["enrol"], 50), 1),
        "enrol_p99_ms": round(percentile(latency["enrol"], 99), 1),
        "errors": sum(errors.values()),
        "errors_by_status": errors,
        "non_2xx_by_status": answers,
        "enrolments_refused_no_usable_face": refused,
        "enrolments_acknowledged": len(acked),
        "lost_writes": len(lost),
        "identify_rank1_correct": round(correct["hits"] / max(1, correct["probes"]), 4),
        "audit_chain_ok": audit["ok"],
        "audit_events": audit["events"],
    }
    info = machine()
    rows = [
        "| workers | clients | seconds | requests/s | identify p50 / p99 ms | enrol p50 / p99 ms "
        "| errors | enrolments acked | lost writes | audit chain |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {summary['workers']} | {summary['clients']} | {summary['seconds']} | "
        f"{summary['requests_per_second']} | {summary['identify_p50_ms']} / "
        f"{summary['identify_p99_ms']} | {summary['enrol_p50_ms']} / {summary['enrol_p99_ms']} | "
        f"{summary['errors']} | {summary['enrolments_acknowledged']} | {summary['lost_writes']} "
        f"| {'ok' if summary['audit_chain_ok'] else 'BROKEN'} |",
    ]
    markdown = "\n".join(
        [
            "# serve_load",
            "",
            f"`facewise serve --workers {args.workers}` on 127.0.0.1, {len(by_person)} LFW people "
            f"enrolled ({ENROL_FIRST} photos each) through the API; {args.clients} clients "
            f"(threads, httpx, one key each, default rate limit) for {args.seconds:g} s: "
            f"`POST /v1/identify` with one face, {args.enrol_share:.0%} `POST "
            "/v1/people/{name}/samples` with new photos. Lost writes: enrolments answered 201 "
            f"but missing from the gallery afterwards. {info}.",
            "",
            *rows,
            "",
            f"identify: {summary['identify_per_second']} requests/s, rank-1 correct "
            f"{summary['identify_rank1_correct']:.1%}; enrol: {summary['enrol_per_second']} "
            f"requests/s; errors by status: {errors or 'none'}; enrolment photos refused "
            f"(422, no single usable face, by design): {refused}; audit events "
            f"{summary['audit_events']}. No peer is compared.",
        ]
    )
    print(markdown)
    print("written", write_result("serve_load", markdown, {"machine": info, "summary": summary}))


if __name__ == "__main__":
    main()
