"""A collection of real LFW photos: add, cluster, name, fix, add more, enrol; over the library
and the `facewise cluster` command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from facewise.cluster.collection import Collection
from facewise.cluster.metrics import score
from facewise.errors import Conflict, EmbeddingSpaceMismatch, InvalidInput, NotFound

pytestmark = pytest.mark.models

PEOPLE = {"Adam_Sandler": 4, "Aaron_Sorkin": 2, "Adrien_Brody": 6, "Abdullah_Gul": 6}
ONCE = ["Aaron_Patterson", "Abbas_Kiarostami", "Abner_Martinez", "Adam_Freier"]
LATER = {"Adam_Sandler": 0, "Adrien_Brody": 3, "Abdullah_Gul": 3}
"""More photos of people already in the collection, added in a second run."""


def _photos(lfw: Path, people: dict[str, int], skip: dict[str, int] | None = None) -> list[Path]:
    out = []
    for person, count in people.items():
        start = (skip or {}).get(person, 0)
        files = sorted((lfw / "images" / person).glob("*.jpg"))
        out.extend(files[start : start + count])
    return out


@pytest.fixture(scope="module")
def photos(lfw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 18 photos of 4 people seen several times and 4 seen once."""
    folder = tmp_path_factory.mktemp("album")
    for path in _photos(lfw, PEOPLE) + _photos(lfw, dict.fromkeys(ONCE, 1)):
        shutil.copy(path, folder / path.name)
    return folder


def _person(path: str) -> str:
    return Path(path).name.rsplit("_", 1)[0]


def _main_faces(summary: dict[str, Any]) -> tuple[list[int], list[str]]:
    """The largest face of each photo (the one LFW labels): its cluster (-1 unclustered), and
    the person."""
    best: dict[str, tuple[float, int]] = {}
    for label, faces in [(c["id"], c["faces"]) for c in summary["clusters"]] + [
        (-1, summary["unclustered"])
    ]:
        for f in faces:
            x1, y1, x2, y2 = f["bbox"]
            area = (x2 - x1) * (y2 - y1)
            if area > best.get(f["path"], (0.0, 0))[0]:
                best[f["path"]] = (area, label)
    paths = sorted(best)
    return [best[p][1] for p in paths], [_person(p) for p in paths]


def test_a_collection_groups_people_and_leaves_strangers_alone(
    photos: Path, engine: Any, tmp_path: Path
) -> None:
    from facewise.gallery.batch import expand_images

    with Collection(tmp_path / "c", engine) as coll:
        report = coll.add_paths(expand_images([str(photos)]))
        summary = coll.summary()
    assert report.photos_added == 22 and not report.errors
    labels, people = _main_faces(summary)
    assert score(labels, people).bcubed_f >= 0.9
    once = {p: lab for p, lab in zip(people, labels, strict=True) if p in ONCE}
    assert set(once.values()) == {-1}, "a person seen once stays unclustered"
    sandler = {lab for p, lab in zip(people, labels, strict=True) if p == "Adam_Sandler"}
    assert len(sandler) == 1 and -1 not in sandler
    cover = summary["clusters"][0]
    assert cover["cover"] in {f["face"] for f in cover["faces"]}


def test_adding_in_two_runs_keeps_the_first_runs_clusters_and_extends_them(
    photos: Path, lfw: Path, engine: Any, tmp_path: Path
) -> None:
    with Collection(tmp_path / "c", engine) as coll:
        coll.add_paths(sorted(str(p) for p in photos.iterdir()))
        before = coll.summary()
        again = coll.add_paths(sorted(str(p) for p in photos.iterdir()))
        assert (again.photos_added, again.photos_known) == (0, 22)
        assert coll.summary() == before, "re-running on the same files gives the same answer"
        more = [str(p) for p in _photos(lfw, LATER, skip=PEOPLE)]
        coll.add_paths(more)
        after = coll.summary()
    old = {f["face"]: c["id"] for c in before["clusters"] for f in c["faces"]}
    now = {f["face"]: c["id"] for c in after["clusters"] for f in c["faces"]}
    assert all(now[f] == cid for f, cid in old.items()), "earlier placements stay"
    for path in more:  # each new photo joins the cluster of its person's earlier photos
        person = _person(path)
        theirs = Counter(
            c["id"] for c in before["clusters"] for f in c["faces"] if _person(f["path"]) == person
        ).most_common(1)[0][0]
        placed = [
            now.get(f["face"]) for c in after["clusters"] for f in c["faces"] if f["path"] == path
        ]
        assert theirs in placed, path


def test_user_decisions_survive_new_photos_and_a_recluster(
    photos: Path, lfw: Path, engine: Any, tmp_path: Path
) -> None:
    with Collection(tmp_path / "c", engine) as coll:
        coll.add_paths(sorted(str(p) for p in photos.iterdir()))
        clusters = coll.summary()["clusters"]
        brody = next(c for c in clusters if _person(c["faces"][0]["path"]) == "Adrien_Brody")
        gul = next(c for c in clusters if _person(c["faces"][0]["path"]) == "Abdullah_Gul")
        coll.name(brody["id"], "Adrien Brody", actor="t")
        wrong = gul["faces"][-1]["face"]  # the user says this one is not him
        coll.reject(wrong, actor="t")
        with pytest.raises(Conflict):
            coll.name(gul["id"], "Adrien Brody", actor="t")
        coll.add_paths([str(p) for p in _photos(lfw, LATER, skip=PEOPLE)])
        coll.recluster(actor="t")
        after = coll.summary()
        decisions = [d["action"] for d in coll.decisions()]
    named = next(c for c in after["clusters"] if c["name"] == "Adrien Brody")
    assert named["id"] == brody["id"]
    assert {f["face"] for f in brody["faces"]} <= {f["face"] for f in named["faces"]}
    back = [c["id"] for c in after["clusters"] for f in c["faces"] if f["face"] == wrong]
    assert gul["id"] not in back, "a rejected face never goes back"
    assert decisions == ["name", "reject", "recluster"]


def test_merge_split_move_and_their_errors(photos: Path, engine: Any, tmp_path: Path) -> None:
    with Collection(tmp_path / "c", engine) as coll:
        coll.add_paths(sorted(str(p) for p in photos.iterdir()))
        a, b = coll.summary()["clusters"][:2]
        coll.merge(a["id"], b["id"], actor="t")
        merged = next(c for c in coll.summary()["clusters"] if c["id"] == a["id"])
        assert merged["size"] == a["size"] + b["size"]
        assert all(f["pinned"] for f in merged["faces"])
        part = [f["face"] for f in b["faces"]]
        new = coll.split(a["id"], part, actor="t")
        sizes = {c["id"]: c["size"] for c in coll.summary()["clusters"]}
        assert sizes[a["id"]] == a["size"] and sizes[new] == b["size"]
        stray = coll.summary()["unclustered"][0]["face"]
        coll.move(stray, new, actor="t")
        assert stray in {f["face"] for c in coll.summary()["clusters"] for f in c["faces"]}
        with pytest.raises(NotFound):
            coll.name(10_000, "Nobody", actor="t")
        with pytest.raises(NotFound):
            coll.reject(10_000, actor="t")
        with pytest.raises(InvalidInput):
            coll.merge(new, new, actor="t")
        with pytest.raises(InvalidInput):
            coll.name(new, "bad/name", actor="t")


def test_a_named_cluster_enrolled_into_the_gallery_is_identified(
    photos: Path, lfw: Path, engine: Any, tmp_path: Path
) -> None:
    from facewise.gallery import Gallery

    with Collection(tmp_path / "c", engine) as coll, Gallery(tmp_path / "home", engine) as gallery:
        coll.add_paths(sorted(str(p) for p in photos.iterdir()))
        brody = next(
            c
            for c in coll.summary()["clusters"]
            if _person(c["faces"][0]["path"]) == "Adrien_Brody"
        )
        with pytest.raises(InvalidInput):  # not named yet
            coll.enrol(brody["id"], gallery, consent="album owner", expires_at=None, actor="t")
        coll.name(brody["id"], "Adrien Brody", actor="t")
        result = coll.enrol(brody["id"], gallery, consent="album owner", expires_at=None, actor="t")
        assert result["enrolled"] == brody["size"]
        probe = sorted((lfw / "images/Adrien_Brody").glob("*.jpg"))[-1]
        found = gallery.identify(probe.read_bytes(), actor="t")
    assert found[0].decision.person == "Adrien Brody"


def test_a_collection_refuses_another_embedding_space(photos: Path, tmp_path: Path) -> None:
    from facewise import testing

    with Collection(tmp_path / "c", testing.fake_engine()) as coll:
        coll.add_photos([("a.png", testing.face_png(1))])
    from facewise import Engine

    with Collection(tmp_path / "c", Engine()) as coll, pytest.raises(EmbeddingSpaceMismatch):
        coll.add_paths([str(sorted(photos.iterdir())[0])])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facewise", "cluster", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_cluster_command_prints_the_collection_and_reports_bad_files(
    photos: Path, no_face_photo: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not a jpeg")
    coll = str(tmp_path / "c")
    run = _cli(str(photos), str(bad), str(no_face_photo), "--collection", coll, "--json")
    assert run.returncode == 3, run.stderr  # the first failure: an undecodable image
    out = json.loads(run.stdout)
    assert set(out) >= {"clusters", "unclustered"}
    paths = {f["path"] for c in out["clusters"] for f in c["faces"]}
    paths |= {f["path"] for f in out["unclustered"]}
    given = {str(photos / p.name) for p in photos.iterdir()}
    assert paths == given, "paths as given: the folder joined with each file's name"
    face = out["clusters"][0]["faces"][0]
    assert len(face["bbox"]) == 4 and out["clusters"][0]["name"] is None
    assert [e["path"] for e in out["added"]["errors"]] == [str(bad)]
    assert "Traceback" not in run.stderr

    cid = str(out["clusters"][0]["id"])
    named = _cli("name", cid, "Someone", "--collection", coll, "--json")
    assert named.returncode == 0, named.stderr
    assert json.loads(named.stdout)["clusters"][0]["name"] == "Someone"
    missing = _cli("merge", cid, "99999", "--collection", coll, "--json")
    assert missing.returncode == 9 and json.loads(missing.stdout)["error"]["code"] == "not_found"
    again = _cli(str(photos), "--collection", coll, "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout)["clusters"][0]["name"] == "Someone"

    first = json.loads(again.stdout)["clusters"][0]
    part = [str(f["face"]) for f in first["faces"][:2]]
    split = _cli("split", cid, *part, "--collection", coll, "--json")
    assert split.returncode == 0, split.stderr
    asked = _cli("suggest", "--collection", coll)
    assert asked.returncode == 0, asked.stderr
    assert f"facewise cluster answer {cid} yes|no --other" in asked.stdout.splitlines()[0]
    queue = json.loads(_cli("suggest", "--collection", coll, "--json").stdout)["queue"]
    assert queue and all(q["cluster"] == int(cid) for q in queue), "only a named cluster gains"
    q = queue[0]
    assert q["other"] is not None and q["size"] == 2, "the split-off part, asked back first"
    no = _cli("answer", cid, "no", "--other", str(q["other"]), "--collection", coll, "--json")
    assert no.returncode == 0, no.stderr
    later = json.loads(_cli("suggest", "--collection", coll, "--json").stdout)["queue"]
    assert q["other"] not in {x["other"] for x in later}
    both = _cli("answer", cid, "yes", "--face", "1", "--other", "2", "--collection", coll)
    assert both.returncode == 2 and "Traceback" not in both.stderr


def test_the_question_queue_asks_what_helps_most_and_a_no_stays_a_no(
    photos: Path, engine: Any, tmp_path: Path
) -> None:
    with Collection(tmp_path / "c", engine) as coll:
        coll.add_paths(sorted(str(p) for p in photos.iterdir()))
        assert coll.suggest()["queue"] == [], "nothing is named yet: no answer gains a name"
        for c in coll.summary()["clusters"]:
            coll.name(c["id"], _person(c["faces"][0]["path"]).replace("_", " "), actor="t")
        summary = coll.summary()
        person = {f["face"]: _person(f["path"]) for c in summary["clusters"] for f in c["faces"]}
        person |= {f["face"]: _person(f["path"]) for f in summary["unclustered"]}
        brody = next(c for c in summary["clusters"] if c["name"] == "Adrien Brody")
        part = coll.split(brody["id"], [f["face"] for f in brody["faces"][:2]], actor="t")
        queue = coll.suggest()["queue"]
        head = queue[0]
        assert (head["cluster"], head["other"], head["size"]) == (brody["id"], part, 2)
        assert head["confidence"] > 0.9 and head["gain"] == max(q["gain"] for q in queue)
        for q in queue:  # right names are believed, strangers are not
            if q["face"] is not None:
                same = person[q["face"]].replace("_", " ") == q["name"]
                assert (q["confidence"] > 0.5) == same, q
            assert q["gain"] >= 0.01, "a question whose answer is 99% sure is not asked"

        coll.answer(brody["id"], False, other=part, actor="t")
        assert not [q for q in coll.suggest()["queue"] if q["other"] == part]
        coll.recluster(actor="t")
        after = {f["face"]: c["id"] for c in coll.summary()["clusters"] for f in c["faces"]}
        assert {after[f["face"]] for f in brody["faces"][:2]} == {part}, "a no stays a no"

        everything = coll.suggest(limit=1000, min_gain=0.0)["queue"]
        stranger = next(q for q in everything if q["member"] is False)
        coll.answer(stranger["cluster"], False, face=stranger["face"], actor="t")
        everything = coll.suggest(limit=1000, min_gain=0.0)["queue"]
        assert (stranger["face"], stranger["cluster"]) not in {
            (q["face"], q["cluster"]) for q in everything
        }
        member = next(q for q in everything if q["member"])
        coll.answer(member["cluster"], True, face=member["face"], actor="t")
        everything = coll.suggest(limit=1000, min_gain=0.0)["queue"]
        assert member["face"] not in {q["face"] for q in everything}
        coll.answer(brody["id"], True, other=part, actor="t")  # the user changed their mind
        sizes = {c["id"]: c["size"] for c in coll.summary()["clusters"]}
        assert part not in sizes and sizes[brody["id"]] == brody["size"]
        with pytest.raises(InvalidInput):
            coll.answer(brody["id"], True, face=member["face"], other=part, actor="t")
        with pytest.raises(NotFound):
            coll.answer(10_000, True, face=member["face"], actor="t")
        actions = [d["action"] for d in coll.decisions()]
    assert actions[-5:] == ["apart", "recluster", "not_in", "confirm", "merge"]
