"""Real NUAA frames (../shared, never copied): sequences of one (label, subject, session) in
frame order, and the Engine that finds their faces, shared by the liveness tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from facewise.engine import Engine
from facewise.types import Image
from testdata import dataset, read_csv

NUAA = "antispoof/nuaa_raw_test_subset"
TEST_SUBJECTS = ("0015", "0016")
"""The subjects benchmarks/liveness_nuaa.py holds out of training: tests score only these."""


@pytest.fixture(scope="session")
def nuaa() -> Path:
    return dataset(NUAA)


@pytest.fixture(scope="session")
def sequences(nuaa: Path) -> dict[tuple[str, str], list[Path]]:
    """(label, subject) -> frame paths in frame order (one session each in this subset)."""
    out: dict[tuple[str, str], list[tuple[int, Path]]] = {}
    for row in read_csv(nuaa / "manifest.csv"):
        key = (row["label"], row["subject"])
        out.setdefault(key, []).append((int(row["frame_no"]), nuaa / row["path"]))
    return {k: [p for _, p in sorted(v)] for k, v in out.items()}


@pytest.fixture(scope="session")
def pad_engine() -> Engine:
    return Engine()


def frames(engine: Engine, paths: list[Path], n: int) -> list[Image]:
    return [engine.load_image(str(p)) for p in paths[:n]]


def write_video(images: list[Image], path: Path, fps: float) -> Path:
    """RGB frames as an MJPG .avi (every frame a JPEG: a repeated frame decodes the same)."""
    import cv2

    h, w = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    for image in images:
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()
    return path
