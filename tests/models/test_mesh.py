"""The 468-point face mesh (MediaPipe Face Mesh on LiteRT) on real faces."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pytest

from facewise import Engine
from facewise.types import BBox, Detection, Image

if TYPE_CHECKING:
    from facewise.analyzers.mesh import MeshAnalyzer
    from facewise.analyzers.pose import PoseAnalyzer

pytestmark = [pytest.mark.models, pytest.mark.data]

# mesh index -> dlib 68 index: outer eye corners, nose tip, mouth corners, chin
CORRESPONDING = [(33, 36), (263, 45), (1, 30), (61, 48), (291, 54), (152, 8)]


def _largest(engine: Engine, image: Image) -> Detection:
    return max(engine.detect(image), key=lambda d: d.bbox.area)


def test_mesh_agrees_with_dlib_68_on_lfw(engine: Engine, lfw: Path) -> None:
    mesh = cast("MeshAnalyzer", engine.analyzer("mesh"))
    pose = cast("PoseAnalyzer", engine.analyzer("pose"))
    errors = []
    for path in sorted((lfw / "images").glob("*/*_0001.jpg"))[:30]:
        image = engine.load_image(path)
        det = _largest(engine, image)
        points, score = mesh.mesh(image, det)
        assert points is not None and points.shape == (468, 3), path.name
        assert score > 0.5
        marks = pose.landmarks(image, det)
        iod = np.linalg.norm(marks[36] - marks[45])
        errors.append(
            np.mean([np.linalg.norm(points[a, :2] - marks[b]) for a, b in CORRESPONDING]) / iod
        )
    # two different annotation conventions: a few percent of the eye distance apart
    assert np.median(errors) < 0.08
    assert max(errors) < 0.25


def test_mirrored_face_mirrors_the_mesh(engine: Engine, face_photo: Path) -> None:
    mesh = cast("MeshAnalyzer", engine.analyzer("mesh"))
    image = engine.load_image(face_photo)
    mirrored = np.ascontiguousarray(image[:, ::-1])
    a, _ = mesh.mesh(image, _largest(engine, image))
    b, _ = mesh.mesh(mirrored, _largest(engine, mirrored))
    assert a is not None and b is not None
    width = image.shape[1]
    # the nose tip moves to the mirrored column; the image-left eye corner becomes the right one
    assert abs((width - 1 - a[1, 0]) - b[1, 0]) < 3.0
    assert abs((width - 1 - a[33, 0]) - b[263, 0]) < 4.0


def test_no_face_in_the_region_gives_no_mesh(engine: Engine, no_face_photo: Path) -> None:
    image = engine.load_image(no_face_photo)
    h, w = image.shape[:2]
    region = Detection(BBox(w * 0.3, h * 0.3, w * 0.6, h * 0.6), 1.0, None, "test")
    points, score = cast("MeshAnalyzer", engine.analyzer("mesh")).mesh(image, region)
    assert points is None and score < 0.5


def test_analyze_mesh_on_a_group_photo(engine: Engine, group_photo: Path) -> None:
    faces = engine.analyze(group_photo, what=["mesh"])
    assert len(faces) >= 5
    for face in faces:
        b = face.bbox
        mesh = face.attributes["mesh"]
        assert mesh is not None and len(mesh) == 468
        xy = np.array(mesh)[:, :2]
        centre = xy.mean(axis=0)
        # the mesh sits on its own face: its centre inside that face's box
        assert b.x1 <= centre[0] <= b.x2 and b.y1 <= centre[1] <= b.y2
