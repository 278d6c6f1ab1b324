"""Open-set identification whose threshold follows the live gallery (its size, samples per
person, template), decisions that say what their score means, and expiry applied at query time
by a gallery that stays open, on real LFW faces."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from facewise import Engine, Face
from facewise.gallery import Gallery
from facewise.gallery.records import NewSample
from testdata import read_csv

pytestmark = [pytest.mark.models, pytest.mark.data]

Vectors = dict[str, list[npt.NDArray[np.float32]]]  # a person's embeddings, by name


@pytest.fixture(scope="module")
def photos(lfw: Path) -> dict[str, list[Path]]:
    """40 LFW people with 2 or more photos, sorted."""
    by: dict[str, list[Path]] = {}
    for row in read_csv(lfw / "manifest.csv"):
        by.setdefault(row["identity"], []).append(lfw / row["path"])
    names = sorted(p for p, imgs in by.items() if len(imgs) >= 2)[:40]
    return {p: sorted(by[p]) for p in names}


def vector_of(face: Face) -> npt.NDArray[np.float32]:
    assert face.embedding is not None  # Engine.embed embeds every face it returns
    return face.embedding.vector


@pytest.fixture(scope="module")
def vectors(photos: dict[str, list[Path]], engine: Engine) -> Vectors:
    """The first two photos' embeddings of each person (largest face)."""
    out: Vectors = {}
    for name, paths in photos.items():
        out[name] = [vector_of(engine.embed(p, largest=True)[0]) for p in paths[:2]]
    return out


def _enrol(gallery: Gallery, vectors: Vectors, names: list[str]) -> None:
    for name in names:
        sample = NewSample(vectors[name][0], f"{name}-0", "lfw", 1.0, (0, 0, 1, 1))
        gallery.add_samples(
            name, [sample], [], consent="research test", expires_at=None, enrolled_by="test"
        )


def test_threshold_rises_with_the_people_searched(
    tmp_path: Path, engine: Engine, vectors: Vectors
) -> None:
    names = list(vectors)
    with Gallery(tmp_path / "home", engine, fpir=0.01) as gallery:
        _enrol(gallery, vectors, names[:5])
        small = gallery.threshold()
        [d5] = gallery.decide(np.stack([vectors[names[0]][1]]))
        _enrol(gallery, vectors, names[5:])
        large = gallery.threshold()
        probes = np.stack([vectors[n][1] for n in names])
        decisions = gallery.decide(probes, top=3)
    assert large > small
    assert d5.gallery_size == 5 and d5.threshold == small
    expected = gallery.model().threshold(0.01, {1: 40}, template="mean")
    assert large == pytest.approx(expected)
    right = 0
    for name, d in zip(names, decisions, strict=True):
        assert d.gallery_size == 40 and d.fpir == 0.01 and d.threshold == large
        assert d.fmr is not None and d.fpir_at_score is not None
        # the best of 40 strangers is likelier to reach a score than one stranger
        assert d.fmr <= d.fpir_at_score <= 40 * d.fmr * 1.0001
        # accepted exactly when a stranger would reach this score at most fpir of the time
        assert d.accepted == (d.fpir_at_score <= 0.01 * (1 + 1e-6))
        right += d.person == name
    assert right >= 30, f"{right}/40 people recognised from a second photo"


def test_one_photo_vs_three_and_best_of(tmp_path: Path, engine: Engine) -> None:
    """The gallery's shape enters the threshold: several samples per person and the best-of
    rule each have their own calibration."""
    with (
        Gallery(tmp_path / "mean", engine) as mean,
        Gallery(tmp_path / "best", engine, template="best") as best,
    ):
        model = mean.model()
        one = model.threshold(0.01, {1: 100}, template="mean")
        three = model.threshold(0.01, {3: 100}, template="mean")
        best3 = model.threshold(0.01, {3: 100}, template="best")
        assert len({round(one, 4), round(three, 4), round(best3, 4)}) == 3
        # the best of 3 samples: more chances for a stranger, a higher threshold than 1 sample
        assert best3 > model.threshold(0.01, {1: 100}, template="best")
        assert mean.threshold() == best.threshold()  # both empty: nobody to accept


def test_identify_through_the_engine_reports_the_decision(
    tmp_path: Path, engine: Engine, photos: dict[str, list[Path]]
) -> None:
    names = list(photos)[:3]
    with Gallery(tmp_path / "home", engine) as gallery:
        for name in names:
            assert gallery.enrol(name, photos[name][:1], consent="research test").enrolled == 1
        [result] = gallery.identify(photos[names[1]][1])
    assert result.person == names[1]
    d = result.decision
    assert d.gallery_size == 3 and d.score == result.candidates[0].score
    assert d.fpir_at_score is not None and d.fpir_at_score < 0.01


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_past_expiry_never_breaks_identification(
    tmp_path: Path, engine: Engine, vectors: Vectors
) -> None:
    """Issue 16 defect 1: enrolling someone with an expiry in the past made every later
    identify fail (index entries without a template) until a restart."""
    a, b = list(vectors)[:2]
    past = _iso(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    with Gallery(tmp_path / "home", engine) as gallery:
        _enrol(gallery, vectors, [a])
        gallery.decide(np.stack([vectors[a][1]]))  # the index is in memory now
        sample = NewSample(vectors[b][0], "b-0", "lfw", 1.0, (0, 0, 1, 1))
        gallery.add_samples(b, [sample], [], consent="c", expires_at=past, enrolled_by="test")
        decisions = gallery.decide(np.stack([vectors[a][1], vectors[b][1], vectors[b][0]]))
    assert decisions[0].person == a
    for d in decisions[1:]:
        assert b not in [c.person for c in d.candidates]
    assert all(d.gallery_size == 1 for d in decisions)


def test_an_open_gallery_stops_matching_when_a_sample_expires(
    tmp_path: Path,
    engine: Engine,
    vectors: Vectors,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 16 defect 3: a running server kept matching samples past their expiry (the
    filter applied only when the index was rebuilt), while the CLI said unknown."""
    a, b = list(vectors)[2:4]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    soon = now + dt.timedelta(hours=1)
    with Gallery(tmp_path / "home", engine) as gallery:
        _enrol(gallery, vectors, [a])
        sample = NewSample(vectors[b][0], "b-0", "lfw", 1.0, (0, 0, 1, 1))
        gallery.add_samples(b, [sample], [], consent="c", expires_at=_iso(soon), enrolled_by="test")
        [before] = gallery.decide(np.stack([vectors[b][1]]))
        assert before.person == b and before.gallery_size == 2
        import facewise.gallery.live as module  # where the live index reads the clock

        monkeypatch.setattr(module, "utc_now", lambda: _iso(soon + dt.timedelta(seconds=1)))
        [after] = gallery.decide(np.stack([vectors[b][1]]))
        # a second gallery on the same home (the CLI) gives the same answer
        with Gallery(tmp_path / "home", engine) as other:
            [cli] = other.decide(np.stack([vectors[b][1]]))
    for d in (after, cli):
        assert b not in [c.person for c in d.candidates]
        assert d.gallery_size == 1


def test_a_gallery_at_a_sqlite_url(tmp_path: Path, engine: Engine, vectors: Vectors) -> None:
    """Issue 10 item 5: ``Gallery("sqlite:///...")`` works as documented: one database file,
    its index cache beside it, the same answers as a gallery folder."""
    names = list(vectors)[:5]
    db = tmp_path / "data" / "people.sqlite"
    with Gallery(f"sqlite:///{db}", engine) as by_url:
        _enrol(by_url, vectors, names)
        [hit] = by_url.decide(np.stack([vectors[names[2]][1]]))
        stats = by_url.stats()
    assert hit.person == names[2] and hit.gallery_size == 5
    assert db.is_file() and (tmp_path / "data" / "people.sqlite.index").is_file()
    assert set(stats["files"]) >= {"people.sqlite", "people.sqlite.index"}
    with Gallery(f"sqlite:///{db}", engine) as again:  # reopened: the same people
        assert [p.name for p in again.people()] == sorted(names)
