"""The gallery's plumbing on fakes (facewise.testing: no weights, no data): enrollment rules,
open-set decisions, the index cache, expiry, forgetting without a trace on disk. What the real
models do with real faces is tested in tests/gallery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facewise.errors import Conflict, EmbeddingSpaceMismatch, PersonNotFound
from facewise.gallery import Gallery
from facewise.gallery.forget import verify_receipt
from facewise.testing import face_png, fake_engine, jpeg, make_face, no_face_png

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def engine() -> Any:
    return fake_engine()


@pytest.fixture
def gallery(tmp_path: Path, engine: Any) -> Iterator[Gallery]:
    g = Gallery(tmp_path / "home", engine)
    yield g
    g.close()


def home_of(gallery: Gallery) -> Path:
    """The folder of a local gallery (``Gallery.home`` is None only on Milvus)."""
    assert gallery.home is not None
    return gallery.home


def enroll_people(gallery: Gallery, people: range, photos: int = 2) -> None:
    for i in people:
        result = gallery.enroll(
            f"p{i}", [face_png(i, v) for v in range(photos)], consent="test", actor="test"
        )
        assert result.enrolled == photos, result.skipped


def test_enroll_skips_what_it_cannot_use(gallery: Gallery) -> None:
    first = gallery.enroll(
        "Ada", [face_png(1, 0), face_png(1, 0), no_face_png()], consent="test", actor="test"
    )
    assert first.enrolled == 1
    assert first.skipped[0]["reason"] == "the same image twice in a request"
    assert "no face" in first.skipped[1]["reason"]
    again = gallery.enroll(
        "Ada",
        [face_png(1, 0), jpeg(make_face(1, 1, others=((2, 0),)))],
        consent="test",
        actor="test",
    )
    assert again.enrolled == 0
    assert again.skipped[0]["reason"] == "already enrolled"
    assert "2 faces" in again.skipped[1]["reason"]
    crowd = gallery.enroll(
        "Ada", [jpeg(make_face(1, 1, others=((2, 0),)))], consent="test", actor="test", largest=True
    )
    assert crowd.enrolled == 1 and gallery.require("Ada").samples == 2
    with pytest.raises(Conflict):
        gallery.enroll("Ada", [face_png(1, 5)], consent="test", actor="test", new=True)
    with pytest.raises(PersonNotFound):
        gallery.require("Bea")
    samples = gallery.samples_of("Ada")
    assert [s.enrolled_by for s in samples] == ["test", "test"]
    assert {s.source for s in samples} == {"image[0]", "image"}


def test_open_set_decisions(gallery: Gallery) -> None:
    enroll_people(gallery, range(30))
    known = [gallery.identify(face_png(i, 9), actor="test")[0] for i in range(30)]
    assert all(r.person == f"p{i}" for i, r in enumerate(known))
    strangers = [gallery.identify(face_png(500 + i, 0))[0] for i in range(30)]
    assert not any(r.accepted for r in strangers)
    d = known[0].decision
    assert d.gallery_size == 30 and d.fmr is not None and d.fpir_at_score is not None
    assert d.fmr <= d.fpir_at_score <= 0.01
    small = Gallery(home_of(gallery).parent / "small", gallery.engine)
    enroll_people(small, range(3))
    assert small.threshold() < gallery.threshold()  # more people searched, a higher bar
    small.close()
    searches = [e for e in gallery.events() if e.action == "identify"]
    assert len(searches) == 30 and searches[0].details["image"].startswith("sha256:")


def test_several_faces_in_one_photo(gallery: Gallery) -> None:
    enroll_people(gallery, range(3))
    found = gallery.identify(jpeg(make_face(0, 5, others=((1, 5), (700, 0)))))
    assert len(found) == 3 and found[0].person == "p0"  # the largest face first
    assert {r.person for r in found[1:]} == {"p1", None}


def test_index_cache_is_rebuilt_when_missing_or_corrupt(gallery: Gallery) -> None:
    enroll_people(gallery, range(6))
    before = gallery.identify(face_png(3, 7))[0].candidates
    gallery.close()
    cache = home_of(gallery) / "index.bin"
    assert cache.is_file()
    cache.write_bytes(cache.read_bytes()[:100])  # truncated
    with Gallery(home_of(gallery), gallery.engine) as g:
        assert g.identify(face_png(3, 7))[0].candidates == before
    cache.unlink()
    with Gallery(home_of(gallery), gallery.engine) as g:
        assert g.identify(face_png(3, 7))[0].candidates == before


def test_forget_leaves_no_copy_of_the_vectors_on_disk(gallery: Gallery) -> None:
    enroll_people(gallery, range(5), photos=3)
    victim = "p2"
    _, _, vectors, _ = gallery.store.vectors(person=victim)
    secrets = [v.tobytes() for v in vectors]
    gallery.identify(face_png(2, 9))  # the index cache file now holds the vectors too
    on_disk = b"".join(p.read_bytes() for p in home_of(gallery).iterdir() if p.is_file())
    assert any(s in on_disk for s in secrets), "test premise: the vectors were on disk"
    receipt = gallery.forget(victim, actor="test")
    assert receipt["removed_samples"] == 3 and receipt["verified"]
    assert receipt["reprobe"]["probes"] == 3 and receipt["reprobe"]["matched_forgotten_person"] == 0
    gallery.close()
    for path in home_of(gallery).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for s in secrets:
                assert s not in data, f"{path.name} still holds an erased vector"
                assert s[:32] not in data, f"{path.name} still holds part of an erased vector"
    with Gallery(home_of(gallery), gallery.engine) as reopened:
        assert verify_receipt(reopened, receipt)[0]
        assert not verify_receipt(reopened, {**receipt, "removed_samples": 1})[0]
        [after] = reopened.identify(face_png(2, 9))
        assert after.person is None
        # a new person under the old name is a new id: the old receipt does not match them
        reopened.enroll(victim, [face_png(2, 0)], consent="test", actor="test")
        assert reopened.require(victim).id != receipt["person_id"]
        assert not verify_receipt(reopened, receipt)[0]


def test_another_embedding_space_is_refused(gallery: Gallery, tmp_path: Path) -> None:
    from facewise.engine import Engine
    from facewise.testing import FakeDetector, FakeEmbedder

    enroll_people(gallery, range(2))
    gallery.close()

    class Wider(FakeEmbedder):
        @property
        def space(self) -> Any:
            import dataclasses

            return dataclasses.replace(super().space, model="fake-2")

    other = Gallery(home_of(gallery), Engine(detector=FakeDetector(), embedder=Wider(), flip=False))
    with pytest.raises(EmbeddingSpaceMismatch):
        other.enroll("p0", [face_png(0, 3)], consent="c", actor="test")
    with pytest.raises(EmbeddingSpaceMismatch):
        other.identify(face_png(0, 3))
    other.close()


def test_rename_merge_remove_keep_the_index_right(gallery: Gallery) -> None:
    enroll_people(gallery, range(4))
    gallery.identify(face_png(0, 5))
    gallery.rename("p0", "Zoe", actor="test")
    assert gallery.identify(face_png(0, 5))[0].person == "Zoe"
    gallery.merge("p1", "p2", actor="test")
    assert gallery.identify(face_png(1, 5))[0].candidates[0].person == "p2"
    assert gallery.remove("p3", actor="test") == 2
    assert gallery.identify(face_png(3, 5))[0].person is None
    assert [p.name for p in gallery.people()] == ["Zoe", "p2"]
    assert np.isclose(gallery.stats()["samples"], 6)
