"""Frames per second of ``facewise video`` against the per-frame detect+embed loop (DeepFace's
``stream()`` style: every frame detected and embedded, no tracker), on the same clip, in one run.

The clip: 3 LFW people pasted on a background (facewise.video.synthetic), moving and scaling,
written as H.264 with PyAV at 640x360 and 1280x720; every figure includes decoding. Rows: K = 1,
3, 5, with identification (embed + fuse + gallery decision, an empty gallery) and without.

    flock /tmp/facewise-heavy.lock nice -n 5 .venv/bin/python benchmarks/video_speed.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_result
from facewise import Engine
from facewise.video import analyze as va
from facewise.video import synthetic as sy
from facewise.video.jobs import video_detector
from facewise.video.sources import open_source

LFW = Path(__file__).resolve().parents[2] / "shared/datasets/identity/lfw_gray/images"
PEOPLE = ("Colin_Powell/Colin_Powell_0001.jpg", "Tony_Blair/Tony_Blair_0001.jpg",
          "Hugo_Chavez/Hugo_Chavez_0001.jpg")  # fmt: skip


def make_clip(engine: Engine, width: int, height: int, frames: int, folder: Path) -> Path:
    s = width / 640
    actors = []
    for k, rel in enumerate(PEOPLE):
        img = np.asarray(PILImage.open(LFW / rel).convert("RGB"))
        face = max(engine.detector.detect(img), key=lambda d: d.bbox.area).bbox
        actors.append(
            sy.Actor(
                rel.split("/")[0],
                img,
                face,
                start=((120 + 200 * k) * s, (170 + 10 * k) * s),
                velocity=(0.8 * s * (-1) ** k, 0.2 * s),
                scale=0.7 * s,
                growth=0.001 * s,
            )
        )
    clip = sy.render(actors, frames, width=width, height=height)
    return sy.write(clip.frames, folder / f"clip{width}.mp4")


def ours(engine: Engine, path: Path, every: int, identify: bool, gallery: Any) -> float:
    src = open_source(path)
    start = time.perf_counter()
    result = va.analyze(
        src,
        engine,
        detector=video_detector(engine),
        gallery=gallery if identify else None,
        options=va.Options(every=every, identify=identify),
    )
    src.close()
    return result.frames / (time.perf_counter() - start)


def per_frame(engine: Engine, path: Path, limit: int) -> float:
    """DeepFace-style: detect (the embedder's own detector) and embed every frame."""
    src = open_source(path)
    n = 0
    start = time.perf_counter()
    for frame in src.frames():
        engine.embed(frame.image)
        n += 1
        if n >= limit:
            break
    src.close()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--peer-frames", type=int, default=40)
    args = parser.parse_args()
    from facewise.gallery import Gallery
    from facewise.settings import load_settings

    engine = Engine()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        gallery = Gallery.from_settings(load_settings(home=folder / "home"), engine)
        for width, height in ((640, 360), (1280, 720)):
            path = make_clip(engine, width, height, args.frames, folder)
            ours(engine, path, 3, True, gallery)  # warm every model once
            base = per_frame(engine, path, args.peer_frames)
            rows.append({"size": f"{width}x{height}", "system": "per-frame", "fps": base})
            for every in (1, 3, 5):
                for identify in (False, True):
                    fps = ours(engine, path, every, identify, gallery)
                    rows.append(
                        {
                            "size": f"{width}x{height}",
                            "system": f"facewise K={every}" + (" +id" if identify else ""),
                            "every": every,
                            "identify": identify,
                            "fps": fps,
                            "vs_per_frame": fps / base,
                        }
                    )
                    print(rows[-1], flush=True)
        gallery.close()
    lines = [
        "# facewise video: frames/s (decode included), one run",
        "",
        "| size | system | frames/s | x per-frame |",
        "|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r['vs_per_frame']:.1f}" if "vs_per_frame" in r else "1.0"
        lines.append(f"| {r['size']} | {r['system']} | {r['fps']:.1f} | {ratio} |")
    target = write_result("video_speed", "\n".join(lines), {"machine": machine(), "rows": rows})
    print("\n".join(lines))
    print(target)


if __name__ == "__main__":
    main()
