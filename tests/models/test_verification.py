"""Verification on real LFW pairs with the calibrated thresholds, and engine behaviour on faces."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from facewise import EmbeddingSpaceMismatch, Engine, NoFaceFound
from facewise.compare import similarity
from facewise.evaluate.metrics import rates_at
from testdata import read_csv

pytestmark = [pytest.mark.models, pytest.mark.data]


def fold_scores(
    engine: Engine, lfw: Path, pairs: list[dict[str, str]]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Each pair's score between the largest faces (-inf where a face is not found), every photo
    embedded once, on two worker processes (an engine like ``engine`` each)."""
    from facewise.engine import largest_detection
    from facewise.errors import FacewiseError
    from facewise.gallery.batch import faces_in_files

    photos = sorted({p[k] for p in pairs for k in ("path_a", "path_b")})
    found = faces_in_files(engine, [str(lfw / rel) for rel in photos], workers=2)
    vectors = {}
    for rel, got in zip(photos, found, strict=True):
        if isinstance(got, FacewiseError) or not got[1]:
            continue
        largest = largest_detection([f.detection for f in got[1]])
        vectors[rel] = next(f.embedding for f in got[1] if f.detection is largest)

    scores, labels = [], []
    for p in pairs:
        a, b = vectors.get(p["path_a"]), vectors.get(p["path_b"])
        scores.append(similarity(a, b) if a is not None and b is not None else -np.inf)
        labels.append(p["same_identity"] == "1")
    return np.array(scores), np.array(labels)


@pytest.mark.parametrize(
    ("model", "n_pairs", "min_accuracy"),
    [("dlib-resnet", 600, 0.96), ("facenet", 300, 0.90)],
)
def test_accuracy_on_lfw_dev_pairs(
    lfw: Path, model: str, n_pairs: int, min_accuracy: float
) -> None:
    pairs = [p for p in read_csv(lfw / "pairs.csv") if p["fold"] == "1"]
    # both classes, evenly: pairs.csv lists each fold's genuine pairs first
    genuine = [p for p in pairs if p["same_identity"] == "1"][: n_pairs // 2]
    impostor = [p for p in pairs if p["same_identity"] == "0"][: n_pairs // 2]
    engine = Engine(embedder=model)
    scores, labels = fold_scores(engine, lfw, genuine + impostor)
    space = engine.space
    from facewise.compare import threshold

    acc_thr, fmr_thr = threshold(space, "accuracy"), threshold(space, "fmr")
    accuracy = float(np.mean((scores >= acc_thr) == labels))
    assert accuracy >= min_accuracy, f"{model}: accuracy {accuracy:.4f} on {len(labels)} pairs"
    fmr, tmr = rates_at(scores, labels, fmr_thr)
    assert fmr <= 0.01, f"{model}: false-match rate {fmr:.4f} at the FMR=1e-3 threshold"
    assert tmr >= 0.6, f"{model}: true-match rate {tmr:.4f} at the FMR=1e-3 threshold"


def test_verify_same_and_different_people(
    engine: Engine, face_photo: Path, same_person: Path, other_person: Path
) -> None:
    same = engine.verify(face_photo, same_person)
    assert same.verified and same.score >= same.threshold and same.operating_point == "fmr"
    different = engine.verify(face_photo, other_person, operating_point="accuracy")
    assert not different.verified and different.score < different.threshold
    assert same.model == "dlib-resnet" and same.metric == "cosine"


def test_verify_without_a_face_says_which_image(
    engine: Engine, face_photo: Path, no_face_photo: Path
) -> None:
    with pytest.raises(NoFaceFound, match="coffee"):
        engine.verify(face_photo, no_face_photo)


def test_embeddings_are_unit_vectors_and_batch_equals_single(
    engine: Engine, group_photo: Path
) -> None:
    faces = engine.embed(group_photo)
    assert len(faces) >= 5
    image = engine.load_image(group_photo)
    for face in faces[:3]:
        [alone] = engine.embed_detections(image, [face.detection])
        assert alone.embedding is not None and face.embedding is not None
        np.testing.assert_allclose(alone.embedding.vector, face.embedding.vector, atol=1e-5)
        assert np.linalg.norm(face.embedding.vector) == pytest.approx(1.0, abs=1e-5)
    largest = engine.embed(group_photo, largest=True)
    assert len(largest) == 1 and largest[0].bbox.area == max(f.bbox.area for f in faces)


def test_facenet_embeds_every_face_of_a_group_photo(group_photo: Path) -> None:
    """OpenCV's DNN kept the batch size of FaceNet's first pass: one face (two crops with flip)
    then a group photo failed with a cv2.error."""
    engine = Engine(embedder="facenet")
    first = engine.embed(group_photo, largest=True)
    faces = engine.embed(group_photo)
    assert len(first) == 1 and len(faces) >= 5
    image = engine.load_image(group_photo)
    for face in faces[:2]:
        [alone] = engine.embed_detections(image, [face.detection])
        assert alone.embedding is not None and face.embedding is not None
        np.testing.assert_allclose(alone.embedding.vector, face.embedding.vector, atol=1e-5)


def test_onnx_runtime_matches_dlib_reference(face_photo: Path) -> None:
    from facewise.embedders.dlib_resnet import DlibResnetEmbedder

    fast = Engine(embedder=DlibResnetEmbedder(runtime="onnx")).embed(face_photo)[0]
    ref = Engine(embedder=DlibResnetEmbedder(runtime="dlib")).embed(face_photo)[0]
    assert fast.embedding is not None and ref.embedding is not None
    assert fast.embedding.space == ref.embedding.space
    assert similarity(fast.embedding, ref.embedding) > 0.99999


def test_flip_fusion_is_its_own_space(face_photo: Path) -> None:
    plain = Engine(flip=False).embed(face_photo)[0].embedding
    fused = Engine(flip=True).embed(face_photo)[0].embedding
    assert plain is not None and fused is not None
    assert fused.space == dataclasses.replace(plain.space, flip=True)
    assert 0.95 < float(plain.vector @ fused.vector) < 0.99999
    with pytest.raises(EmbeddingSpaceMismatch):
        similarity(plain, fused)


def test_exif_rotated_photo_is_upright_before_detection(tmp_path: Path, face_photo: Path) -> None:
    from PIL import Image

    upright = Image.open(face_photo).convert("RGB")
    stored = upright.rotate(90, expand=True)  # turned counter-clockwise on disk
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=95)
    engine = Engine()
    faces = engine.embed(path)
    assert len(faces) == 1
    naive = engine.detector.detect(np.asarray(stored))
    assert naive == []  # without the EXIF turn, the frontal detector finds nothing
