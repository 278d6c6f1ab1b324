"""Enrolment rate from images: `facewise enroll-dir` on LFW dev photos, local process pool.

    python benchmarks/enrol_rate.py [--images 400] [--workers 2] [--engine local|ray]

Builds a temporary folder-per-person tree of links to LFW images (nothing is copied into the
repo), enrols it into a fresh gallery, and reports faces/s end to end (decode, detect, align,
embed, SQLite writes).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from common import LFW, machine, write_result
from facewise import Engine
from facewise.gallery import Gallery
from facewise.gallery.batch import enrol_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    args = parser.parse_args()
    with (LFW / "manifest.csv").open(newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["path"])[: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "people"
        for row in rows:
            target = folder / row["identity"] / Path(row["path"]).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(LFW / row["path"])
        with Gallery(Path(tmp) / "home", Engine()) as gallery:
            summary = enrol_folder(
                gallery,
                folder,
                consent="benchmark",
                expires_at=None,
                executor=args.engine,
                workers=args.workers,
                progress=False,
            )
    info = machine()
    line = (
        f"| {args.engine} | {args.workers} | {summary['images']} | {summary['enrolled']} | "
        f"{summary['failed']} | {summary['seconds']:.1f} | "
        f"{summary['faces_per_second']:.1f} |"
    )
    markdown = "\n".join(
        [
            "# enrol_rate",
            "",
            f"`facewise enroll-dir` on {summary['images']} LFW dev photos ({summary['people']} "
            f"people), fresh gallery; {info}.",
            "",
            "| executor | workers | images | enrolled | failed | seconds | faces/s |",
            "|---|---|---|---|---|---|---|",
            line,
        ]
    )
    print(markdown)
    print(
        "written",
        write_result(f"enrol_rate-{args.engine}", markdown, {"machine": info, "summary": summary}),
    )


if __name__ == "__main__":
    main()
