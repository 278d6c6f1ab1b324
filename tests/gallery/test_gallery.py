"""The gallery on real faces: enrol, identify open-set, templates, another model's space refused,
enrol a folder resumably on a process pool and on Ray. The plumbing that needs no real model
(forgetting without a trace on disk, the index cache rebuilt) is tested on fakes in
tests/fast/test_gallery_plumbing.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facewise import EmbeddingSpaceMismatch, Engine
from facewise.gallery import Gallery
from testdata import read_csv

pytestmark = [pytest.mark.models, pytest.mark.data]

People = dict[str, list[Path]]  # a name and its photos


@pytest.fixture(scope="module")
def lfw_people(lfw: Path) -> People:
    """LFW people with at least 4 photos, 6 of them, photos sorted."""
    by: dict[str, list[Path]] = {}
    for row in read_csv(lfw / "manifest.csv"):
        by.setdefault(row["identity"], []).append(lfw / row["path"])
    many = sorted((p for p, imgs in by.items() if len(imgs) >= 4), key=lambda p: -len(by[p]))
    return {p: sorted(by[p]) for p in many[:6]}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture
def gallery(tmp_path: Path, engine: Engine) -> Iterator[Gallery]:
    g = Gallery(tmp_path / "home", engine)
    yield g
    g.close()


def enrol_all(gallery: Gallery, people: dict[str, list[Path]], n: int = 2) -> None:
    for name, photos in people.items():
        result = gallery.enrol(name, photos[:n], consent="research test", source="lfw")
        assert result.enrolled == n, result.skipped


def test_identify_known_and_unknown_people(gallery: Gallery, lfw_people: People, lfw: Path) -> None:
    enrol_all(gallery, lfw_people)
    correct = 0
    for name, photos in lfw_people.items():
        [result] = gallery.identify(photos[3], top=3)
        assert result.candidates and len(result.candidates) <= 3
        correct += result.person == name
    assert correct >= 5, f"only {correct}/6 enrolled people identified"
    stranger = lfw / "images/Aaron_Sorkin/Aaron_Sorkin_0001.jpg"
    [unknown] = gallery.identify(stranger)
    assert unknown.person is None and not unknown.accepted
    assert unknown.candidates[0].score < unknown.threshold


def test_resubmitted_images_are_skipped_and_multi_face_photos_refused(
    gallery: Gallery, lfw_people: People, group_photo: Path, no_face_photo: Path
) -> None:
    name, photos = next(iter(lfw_people.items()))
    assert gallery.enrol(name, photos[:2], consent="c").enrolled == 2
    again = gallery.enrol(name, [photos[0], group_photo, no_face_photo], consent="c")
    assert again.enrolled == 0
    reasons = [s["reason"] for s in again.skipped]
    assert reasons[0] == "already enrolled" and "faces" in reasons[1] and "no face" in reasons[2]
    assert gallery.enrol("crowd", [group_photo], consent="c", largest=True).enrolled == 1


def test_templates_best_and_mean_rank_the_right_person(
    tmp_path: Path,
    engine: Engine,
    lfw_people: People,
) -> None:
    for template in ("best", "mean"):
        g = Gallery(tmp_path / template, engine, template=template)
        enrol_all(g, lfw_people, n=3)
        hits = sum(
            g.identify(photos[3])[0].candidates[0].person == name
            for name, photos in lfw_people.items()
        )
        assert hits >= 5, f"{template}: {hits}/6"
        g.close()


def test_another_embedding_space_is_refused(
    gallery: Gallery, lfw_people: People, tmp_path: Path
) -> None:
    enrol_all(gallery, lfw_people)
    gallery.close()
    assert gallery.home is not None  # a local gallery
    other = Gallery(gallery.home, Engine(embedder="facenet"))
    name, photos = next(iter(lfw_people.items()))
    with pytest.raises(EmbeddingSpaceMismatch):
        other.enrol(name, photos[2:3], consent="c")
    with pytest.raises(EmbeddingSpaceMismatch):
        other.identify(photos[3])
    other.close()


@pytest.mark.parametrize("executor", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_enrol_folder_is_resumable(
    tmp_path: Path,
    engine: Engine,
    lfw_people: People,
    executor: str,
) -> None:
    from facewise.gallery.batch import enrol_folder

    if executor == "ray":
        pytest.importorskip("ray")
    folder = tmp_path / "people"
    for name, photos in list(lfw_people.items())[:3]:
        (folder / name).mkdir(parents=True)
        for p in photos[:3]:
            shutil.copy(p, folder / name / p.name)
    (folder / "broken").mkdir()
    (folder / "broken" / "x.jpg").write_bytes(b"not a jpeg")
    g = Gallery(tmp_path / "home", engine)
    first = enrol_folder(
        g, folder, consent="c", expires_at=None, executor=executor, workers=2, progress=False
    )
    assert first["enrolled"] == 9 and first["failed"] == 1 and first["people"] == 4
    second = enrol_folder(
        g, folder, consent="c", expires_at=None, executor=executor, workers=2, progress=False
    )
    assert second["enrolled"] == 0 and second["skipped"] == 9
    assert sorted(p.samples for p in g.people()) == [3, 3, 3]
    _, _, vectors, _ = g.store.vectors()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    g.close()


def test_the_same_gallery_on_milvus_lite(
    tmp_path: Path, engine: Engine, lfw_people: People
) -> None:
    pytest.importorskip("milvus_lite")
    g = Gallery(f"milvus-lite:///{tmp_path}/gallery.db", engine)
    enrol_all(g, lfw_people)
    hits = sum(g.identify(photos[3])[0].person == name for name, photos in lfw_people.items())
    assert hits >= 5
    victim = next(iter(lfw_people))
    receipt = g.forget(victim, actor="test")
    assert receipt["removed_samples"] == 2 and receipt["verified"]
    assert "Milvus rows deleted" in receipt["erased_from"]
    assert g.identify(lfw_people[victim][3])[0].person != victim
    g.close()


def test_quality_floor_refuses_poor_enrolment_photos(tmp_path: Path, lfw_people: People) -> None:
    import cv2
    from PIL import Image

    from facewise import load_settings

    name, photos = next(iter(lfw_people.items()))
    sharp = photos[0]
    blurred = tmp_path / "blurred.png"
    pixels = np.asarray(Image.open(sharp).convert("RGB"))
    Image.fromarray(cv2.GaussianBlur(pixels, (0, 0), 4)).save(blurred)
    engine = Engine(load_settings(min_quality=0.3))
    g = Gallery(tmp_path / "home", engine)
    result = g.enrol(name, [sharp, blurred], consent="c")
    assert result.enrolled == 1
    assert "below min_quality" in result.skipped[0]["reason"]
    g.close()
