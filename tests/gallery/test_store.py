"""The store contract, run against both stores: SQLite (the embedded default) and Milvus, both
through Milvus Lite (which speaks the Milvus client API) and against a real Milvus 2.3.5 standalone
server that tests/milvus_server.py starts for the session: people, samples, consent, expiry, audit
chain, crash safety, concurrency, erasure; and Milvus's own 1:N search, templates and counts."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facewise.errors import Conflict, EmbeddingSpaceMismatch, FacewiseError, InvalidInput
from facewise.gallery.audit import verify_chain
from facewise.gallery.milvus import MilvusStore
from facewise.gallery.records import NewSample
from facewise.gallery.sqlite_store import SqliteStore
from facewise.types import EmbeddingSpace
from milvus_server import milvus_server  # noqa: F401  (the session's server, a fixture)

SPACE = EmbeddingSpace("dlib-resnet", "a" * 64, 8, "cosine", "dlib-chip-150-0.25", True)
KINDS = ["sqlite", "milvus-lite", "milvus-server"]
MILVUS_KINDS = ["milvus-lite", "milvus-server"]
MILVUS_MISSING = [m for m in ("pymilvus", "milvus_lite") if importlib.util.find_spec(m) is None]
SERVER: dict[str, str] = {}  # "url": the session's server, once a test has asked for it

Store = Any  # SqliteStore | MilvusStore: the same contract


def sample(seed: int, dim: int = 8) -> NewSample:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return NewSample(v / np.linalg.norm(v), f"{seed:064x}", f"photo{seed}.jpg", 0.9, (1, 2, 3, 4))


def location(kind: str, stem: Path, query: str = "") -> str:
    """Where a store of ``kind`` named ``stem`` lives, as a string its class opens. On the
    server, a gallery (collection prefix) of its own per ``stem``."""
    if kind == "sqlite":
        return str(stem.with_suffix(".sqlite"))
    if kind == "milvus-lite":
        return f"milvus-lite:///{stem.with_suffix('.db')}{query}"
    gallery = "t" + hashlib.sha1(str(stem).encode()).hexdigest()[:16]
    return f"{SERVER['url']}?gallery={gallery}{query.replace('?', '&')}"


def open_url(kind: str, url: str) -> Store:
    return SqliteStore(Path(url)) if kind == "sqlite" else MilvusStore(url)


def open_at(kind: str, stem: Path, query: str = "") -> Store:
    return open_url(kind, location(kind, stem, query))


def need(kind: str, request: pytest.FixtureRequest | None = None) -> None:
    if kind != "sqlite" and MILVUS_MISSING:
        pytest.skip(f"{', '.join(MILVUS_MISSING)} not installed (pip install -e '.[dev]')")
    if kind == "milvus-server":
        assert request is not None
        SERVER["url"] = request.getfixturevalue("milvus_server")  # skips when it cannot start


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    need(request.param, request)
    return str(request.param)


@pytest.fixture(params=MILVUS_KINDS)
def mkind(request: pytest.FixtureRequest) -> str:
    """Milvus Lite, or the real server."""
    need(request.param, request)
    return str(request.param)


@pytest.fixture
def store(kind: str, tmp_path: Path) -> Iterator[Store]:
    s = open_at(kind, tmp_path / "g")
    yield s
    s.close()


@pytest.fixture
def milvus(tmp_path: Path) -> Iterator[MilvusStore]:
    need("milvus-lite")
    s = MilvusStore(location("milvus-lite", tmp_path / "g"))
    yield s
    s.close()


@pytest.fixture
def mstore(mkind: str, tmp_path: Path) -> Iterator[MilvusStore]:
    """A Milvus store: on Milvus Lite, or on the real server."""
    s = open_at(mkind, tmp_path / "g")
    yield s
    s.close()


def add(store: Store, name: str, *seeds: int, expires: str | None = None) -> list[int]:
    ids: list[int] = store.add_samples(
        name,
        SPACE,
        [sample(s) for s in seeds],
        consent="signed form",
        enrolled_by="tester",
        expires_at=expires,
    )
    return ids


def test_enrol_people_with_consent_and_provenance(store: Store) -> None:
    add(store, "Ada", 1, 2)
    add(store, "Grace", 3)
    assert [(p.name, p.samples) for p in store.people()] == [("Ada", 2), ("Grace", 1)]
    info = store.samples_of("Ada")[0]
    assert (info.consent, info.enrolled_by, info.source) == ("signed form", "tester", "photo1.jpg")
    assert info.image_sha256 == f"{1:064x}" and info.enrolled_at.endswith("Z")
    assert info.bbox == (1, 2, 3, 4) and info.expires_at is None and info.quality == 0.9
    ids, owners, vectors, _ = store.vectors()
    assert vectors.shape == (3, 8) and len(set(owners.tolist())) == 2
    assert vectors.dtype == np.float32 and ids.dtype == owners.dtype == np.int64
    np.testing.assert_array_equal(vectors[0], sample(1).vector)
    assert store.has_image("Ada", f"{2:064x}") and not store.has_image("Grace", f"{2:064x}")
    assert store.names() == {p.id: p.name for p in store.people()}
    assert store.space() == SPACE


def test_enrolling_nothing_creates_no_person(store) -> None:  # type: ignore[no-untyped-def]
    assert (
        store.add_samples("Ghost", SPACE, [], consent="c", enrolled_by="t", expires_at=None) == []
    )
    assert store.person("Ghost") is None and store.space() is None and store.events() == []


def test_rename_merge_remove(store: Store) -> None:
    add(store, "A", 1)
    add(store, "B", 2, 3)
    store.rename("A", "Alice", actor="t")
    with pytest.raises(InvalidInput, match="already exists"):
        store.rename("Alice", "B", actor="t")
    merged = store.merge("Alice", "B", actor="t")
    assert merged.samples == 3 and store.person("Alice") is None
    assert len(store.remove_person("B", actor="t")) == 3
    assert store.people() == [] and store.vectors()[2].shape[0] == 0
    with pytest.raises(InvalidInput, match="no person"):
        store.remove_person("B", actor="t")


def test_names_with_quotes_and_backslashes(store: Store) -> None:
    """Milvus filters are expressions: a name must not be able to break out of its literal."""
    tricky = ['O"Brien', "d'Arc", "back\\slash", 'x" or name != "', "ü名 🙂"]
    for i, name in enumerate(tricky):
        add(store, name, i)
    assert sorted(p.name for p in store.people()) == sorted(tricky)
    for i, name in enumerate(tricky):
        assert store.require(name).samples == 1
        assert store.has_image(name, f"{i:064x}")
        assert [s.person for s in store.samples_of(name)] == [name]
        assert len(store.vectors(person=name)[0]) == 1
    assert store.person('x" or "1" == "1') is None


def test_vectors_of_another_space_are_refused(store: Store) -> None:
    add(store, "A", 1)
    other = EmbeddingSpace("facenet", "b" * 64, 8, "cosine", "margin-crop-160")
    with pytest.raises(EmbeddingSpaceMismatch):
        store.add_samples("A", other, [sample(2)], consent="x", enrolled_by="t", expires_at=None)
    assert store.person("A").samples == 1


def test_bad_names_and_missing_consent_are_refused(store: Store) -> None:
    for name in ("", "  ", "a\nb", "x" * 201):
        with pytest.raises(InvalidInput):
            add(store, name, 1)
    with pytest.raises(InvalidInput, match="consent"):
        store.add_samples("A", SPACE, [sample(1)], consent=" ", enrolled_by="t", expires_at=None)
    with pytest.raises(InvalidInput, match="shape"):
        store.add_samples(
            "A", SPACE, [sample(1, dim=4)], consent="c", enrolled_by="t", expires_at=None
        )
    assert store.people() == [] and store.events() == []


def test_expired_samples_are_never_returned_and_purged(store: Store) -> None:
    add(store, "Old", 1, expires="2020-01-01T00:00:00Z")
    add(store, "New", 2, expires="2999-01-01T00:00:00Z")
    add(store, "Forever", 3)
    assert len(store.vectors()[0]) == 2
    assert len(store.purge_expired(actor="t")) == 1
    assert len(store.vectors(now="0000")[0]) == 2
    assert store.samples_of("New")[0].expires_at == "2999-01-01T00:00:00Z"


def test_a_failed_enrolment_leaves_nothing_behind(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit write fails after the samples went in: SQLite rolls back, Milvus undoes."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "_audit", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        add(store, "A", 1, 2)
    monkeypatch.undo()
    assert store.people() == [] and len(store.vectors(now="0000")[0]) == 0
    assert store.space() is None and store.events() == []
    other = EmbeddingSpace("facenet", "b" * 64, 8, "cosine", "margin-crop-160")
    store.add_samples("B", other, [sample(3)], consent="c", enrolled_by="t", expires_at=None)
    assert store.space() == other and store.require("B").samples == 1


def test_audit_chain_verifies_and_detects_tampering(
    store: Store, kind: str, tmp_path: Path
) -> None:
    add(store, "A", 1)
    store.rename("A", "B", actor="t")
    store.remove_person("B", actor="t")
    events = store.events()
    assert [e.action for e in events] == ["enrol", "rename", "remove"]
    assert verify_chain(events)[0]
    assert "vector" not in str([e.details for e in events])
    assert [e.seq for e in store.events(since=1, limit=1)] == [2]
    if kind == "sqlite":
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store._db.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 1")
        raw = sqlite3.connect(tmp_path / "g.sqlite")  # an attacker with file access
        raw.execute("DROP TRIGGER audit_no_update")
        raw.execute("UPDATE audit SET subject = 'someone else' WHERE seq = 2")
        raw.commit()
        raw.close()
    else:  # Milvus cannot refuse a raw client: the chain makes the edit evident
        from pymilvus import MilvusClient

        uri = (
            str(tmp_path / "g.db")
            if kind == "milvus-lite"
            else SERVER["url"].replace("milvus://", "http://")
        )
        raw = MilvusClient(uri)  # an attacker with a client of their own
        audit = f"{store.prefix}_audit"
        row = raw.get(audit, ids=[2], output_fields=["*"], consistency_level="Strong")[0]
        row["subject"] = "someone else"
        raw.upsert(audit, [row])
        raw.close()
    ok, bad, why = verify_chain(store.events())
    assert not ok and bad == 2 and "altered" in why


def test_long_audit_details_round_trip(store: Store) -> None:
    """An enrolment of 1,200 images lists their hashes (~80,000 characters) in its event."""
    store.add_samples(
        "Many",
        SPACE,
        [sample(i) for i in range(1200)],
        consent="c",
        enrolled_by="t",
        expires_at=None,
    )
    event = store.events()[-1]
    assert len(event.details["images"]) == 1200 and verify_chain(store.events())[0]


def test_generation_moves_only_when_vectors_change(store: Store) -> None:
    g0 = store.generation()
    add(store, "A", 1)
    g1 = store.generation()
    store.audit("t", "identify", "*", {})
    store.rename("A", "B", actor="t")
    assert g1 == g0 + 1 and store.generation() == g1
    store.remove_person("B", actor="t")
    assert store.generation() == g1 + 1


def test_everything_survives_close_and_reopen(kind: str, tmp_path: Path) -> None:
    first = open_at(kind, tmp_path / "g")
    add(first, "A", 1, 2)
    add(first, "B", 3, expires="2999-01-01T00:00:00Z")
    first.rename("B", "Bea", actor="t")
    before = (first.people(), first.vectors(), first.events(), first.generation())
    first.close()
    again = open_at(kind, tmp_path / "g")
    after = (again.people(), again.vectors(), again.events(), again.generation())
    assert after[0] == before[0] and after[2] == before[2] and after[3] == before[3]
    for a, b in zip(after[1], before[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert add(again, "C", 4) == [max(before[1][0]) + 1]  # ids are never reused
    again.close()


def test_compact_erases_removed_vectors_from_disk(store: Store, kind: str, tmp_path: Path) -> None:
    add(store, "Keep", 1, 2)
    add(store, "Forget", 3, 4)
    if kind == "milvus-server":
        # A server rewrites the segments at once but deletes the old files only after its
        # garbage-collection delay (dataCoord.gc.dropTolerance, 3 h by default), and its WAL
        # keeps the inserts until rocksmq's retention ends: the disk is not checked here.
        store.remove_person("Forget", actor="t")
        store.compact()
        found = store.search(np.stack([sample(s).vector for s in (1, 2, 3, 4)]), 4)[1]
        assert set(found.ravel().tolist()) - {-1} == {1, 2}
        np.testing.assert_array_equal(store.vectors()[2][1], sample(2).vector)
        assert [p.name for p in store.people()] == ["Keep"]
        return

    def on_disk(seed: int) -> bool:
        needle = sample(seed).vector.astype("<f4").tobytes()
        return any(
            needle in (Path(root) / f).read_bytes()
            for root, _, files in os.walk(tmp_path)
            for f in files
        )

    store.compact()  # the vectors now sit in the store's data files, not only in its log
    assert on_disk(3) and on_disk(1)
    store.remove_person("Forget", actor="t")
    store.compact()
    assert not on_disk(3) and not on_disk(4)
    assert on_disk(1)
    np.testing.assert_array_equal(store.vectors()[2][1], sample(2).vector)
    assert [p.name for p in store.people()] == ["Keep"]


WRITER = """
import sys
sys.path[:0] = [{tests!r}, {root!r}]
from test_store import SPACE, sample, open_url
store = open_url({kind!r}, {url!r})
print(-1, flush=True)
for i in range(100000):
    store.add_samples(f"p{{i % 50}}", SPACE, [sample(i), sample(i + 1)],
                      consent="c", enrolled_by="t", expires_at=None)
    print(i, flush=True)
"""


def test_killed_writer_loses_nothing_reported_and_never_corrupts(kind: str, tmp_path: Path) -> None:
    stem = tmp_path / "crash"
    url = location(kind, stem)
    script = WRITER.format(
        tests=str(Path(__file__).parent), root=str(Path(__file__).parents[1]), kind=kind, url=url
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, text=True
    )
    # Kill after 40 enrolments, or after 45 s when a loaded machine makes the server slow
    # (CI saw 20 in 60 s): what matters is a kill mid-write with some enrolments reported.
    reported = -2
    deadline = time.time() + 45
    watchdog = threading.Timer(240, proc.kill)  # a hung writer ends the read loop with EOF
    watchdog.start()
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            break
        reported = int(line)
        if reported >= 40 or (reported >= 5 and time.time() > deadline):
            break
    proc.kill()  # SIGKILL, mid-write more often than not
    watchdog.cancel()
    proc.wait()
    proc.stdout.close()
    assert reported >= 5, "the writer did not get going"
    if kind == "sqlite":
        raw = sqlite3.connect(stem.with_suffix(".sqlite"))
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        raw.close()
    # on a server, read what the killed process wrote without waiting on time ticks' luck
    store = open_at(kind, stem, "?consistency=Strong" if kind == "milvus-server" else "")
    samples = len(store.vectors()[0])
    assert samples >= 2 * (reported + 1)  # every reported enrolment survived
    assert samples % 2 == 0  # no half-written enrolment
    assert verify_chain(store.events())[0]
    add(store, "after", 1)  # and the store takes writes again
    assert verify_chain(store.events())[0]
    store.close()


def test_concurrent_readers_with_one_writer(kind: str, tmp_path: Path) -> None:
    writer = open_at(kind, tmp_path / "c")
    add(writer, "seed", 0)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        reader = open_at(kind, tmp_path / "c")
        try:
            while not stop.is_set():
                ids, _, vectors, _ = reader.vectors()
                assert len(ids) == len(vectors) >= 1
                assert verify_chain(reader.events())[0]
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            reader.close()

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(1, 60):
        add(writer, f"p{i % 7}", i)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(writer.vectors()[0]) == 60
    writer.close()


def test_a_store_opened_before_the_first_enrolment_sees_it(kind: str, tmp_path: Path) -> None:
    reader = open_at(kind, tmp_path / "g")
    writer = open_at(kind, tmp_path / "g")
    assert len(reader.vectors()[0]) == 0 and reader.space() is None
    add(writer, "A", 1, 2)
    assert len(reader.vectors()[0]) == 2 and reader.require("A").samples == 2
    if kind != "sqlite":
        assert reader.search(sample(2).vector[None, :], 1)[1][0, 0] == 2
    writer.close()
    reader.close()


def test_a_file_that_is_not_a_gallery_is_a_clear_error(kind: str, tmp_path: Path) -> None:
    if kind == "milvus-server":
        pytest.skip(
            "a server holds collections, not files (see "
            "test_milvus_collection_of_another_shape_is_a_clear_error)"
        )
    bad = Path(location(kind, tmp_path / "bad").removeprefix("milvus-lite:///"))
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(InvalidInput, match="not a facewise gallery"):
        open_at(kind, tmp_path / "bad")


# --- Milvus only ---------------------------------------------------------------------------------


@pytest.mark.parametrize("index", ["HNSW", "FLAT"])
def test_milvus_search_finds_each_stored_vector_first(
    index: str, mkind: str, tmp_path: Path
) -> None:
    milvus = open_at(mkind, tmp_path / "g", f"?index={index}")
    for i in range(20):
        add(milvus, f"p{i % 5}", i)
    add(milvus, "Gone", 99, expires="2020-01-01T00:00:00Z")
    ids, owners, vectors, _ = milvus.vectors()
    scores, found, people = milvus.search(vectors, 3)
    assert scores.shape == found.shape == people.shape == (20, 3)
    assert scores.dtype == np.float32 and found.dtype == people.dtype == np.int64
    np.testing.assert_array_equal(found[:, 0], ids)
    np.testing.assert_array_equal(people[:, 0], owners)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    exact = vectors @ vectors.T
    np.testing.assert_allclose(scores[:, 1], np.sort(exact, axis=1)[:, -2], atol=1e-5)
    expired = sample(99).vector[None, :]
    assert milvus.search(expired, 1)[1][0, 0] != 21  # the expired sample is never answered
    scores, found, people = milvus.search(vectors[:2], 25)  # more than are live: padded
    assert (found[:, 20:] == -1).all() and np.isneginf(scores[:, 20:]).all()
    assert (people[:, 20:] == -1).all() and (people[:, :20] >= 1).all()
    with pytest.raises(InvalidInput, match="dimension"):
        milvus.search(np.zeros((1, 4), np.float32), 1)
    milvus.close()
    again = open_at(mkind, tmp_path / "g")  # the index it was made with
    assert again.index_type == index and again.search(vectors[:1], 1)[1][0, 0] == ids[0]
    again.close()


def test_milvus_search_on_an_empty_gallery(mstore: MilvusStore) -> None:
    scores, found, people = mstore.search(np.zeros((2, 8), np.float32), 4, now="2020-01-01")
    assert found.shape == (2, 4) and (found == -1).all() and np.isneginf(scores).all()
    assert (people == -1).all() and people.shape == (2, 4)
    assert mstore.count(now="2020-01-01T00:00:00Z") == 0
    assert mstore.templates([1, 2], now="2020-01-01T00:00:00Z") == {}


def test_milvus_search_templates_and_count_without_every_vector(
    mstore: MilvusStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store answers 1:N search (with person ids), per-person templates and the live count
    itself, expired samples left out by Milvus's filter, reading only the vectors asked for."""
    from facewise.gallery.live import mean_templates

    add(mstore, "A", 1, 2)
    low = NewSample(sample(3).vector, f"{3:064x}", "photo3.jpg", 0.2, (1, 2, 3, 4))
    mstore.add_samples("A", SPACE, [low], consent="c", enrolled_by="t", expires_at=None)
    add(mstore, "B", 4)
    add(mstore, "C", 5, 6, expires="2030-01-01T00:00:00Z")
    before, after = "2029-06-01T00:00:00Z", "2030-01-01T00:00:00Z"  # expiry is at <= now
    a, b, c = (mstore.require(n).id for n in "ABC")
    ids, owners, vectors, quality = mstore.vectors(now=before)
    assert mstore.count(now=before) == 6 and mstore.count(now=after) == 4

    scores, found, people = mstore.search(vectors, 2, now=before)
    assert scores.shape == found.shape == people.shape == (6, 2)
    np.testing.assert_array_equal(found[:, 0], ids)
    np.testing.assert_array_equal(people[:, 0], owners)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    scores, found, people = mstore.search(vectors[-2:], 6, now=after)  # C's samples expired
    assert not ({5, 6} & set(found.ravel().tolist())) and c not in people
    assert (found[:, 4:] == -1).all() and (people[:, 4:] == -1).all()
    assert np.isneginf(scores[:, 4:]).all() and np.isfinite(scores[:, :4]).all()

    reads: list[str] = []
    real = mstore._call

    def spy(method: str, *args: Any, **kwargs: Any) -> Any:
        if method in ("query", "get") and args and str(args[0]).endswith("_samples"):
            reads.append(str(kwargs.get("filter", "")))
        return real(method, *args, **kwargs)

    monkeypatch.setattr(mstore, "_call", spy)
    templates = mstore.templates([a, c, 999], now=before)
    assert reads and all("person_id in [" in f for f in reads), reads
    monkeypatch.undo()
    expected = mean_templates(owners, vectors, quality)
    assert sorted(templates) == [a, c]
    for pid in (a, c):
        assert templates[pid].dtype == np.float32 and templates[pid].shape == (8,)
        np.testing.assert_allclose(templates[pid], expected[pid], atol=1e-6)
    weighted = 0.9 * sample(1).vector + 0.9 * sample(2).vector + 0.2 * sample(3).vector
    np.testing.assert_allclose(templates[a], weighted / np.linalg.norm(weighted), atol=1e-6)
    assert sorted(mstore.templates([a, b, c], now=after)) == [a, b]  # C has none live
    assert mstore.templates([], now=before) == {}


def test_store_urls_route_to_milvus_lite(tmp_path: Path) -> None:
    need("milvus-lite")
    from facewise.gallery.stores import open_store

    store = open_store(f"milvus-lite:///{tmp_path / 'u.db'}?gallery=shop_1")
    assert isinstance(store, MilvusStore) and store.prefix == "shop_1"
    add(store, "A", 1)
    store.close()
    with pytest.raises(InvalidInput, match=r"\.db"):
        MilvusStore(f"milvus-lite:///{tmp_path / 'u.sqlite'}")
    with pytest.raises(InvalidInput, match="index"):
        MilvusStore(f"milvus-lite:///{tmp_path / 'v.db'}?index=BOGUS")


def test_milvus_collection_of_another_shape_is_a_clear_error(mkind: str, tmp_path: Path) -> None:
    from pymilvus import MilvusClient

    url = location(mkind, tmp_path / "other")
    if mkind == "milvus-lite":
        raw, meta = MilvusClient(str(tmp_path / "other.db")), "facewise_meta"
    else:
        raw = MilvusClient(SERVER["url"].replace("milvus://", "http://"))
        meta = url.rpartition("gallery=")[2] + "_meta"
    raw.create_collection(meta, dimension=4)
    raw.close()
    with pytest.raises(InvalidInput, match="not a facewise gallery"):
        MilvusStore(url)


def test_milvus_interrupted_compaction_is_finished_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("milvus-lite")
    store = MilvusStore(location("milvus-lite", tmp_path / "g"))
    add(store, "A", 1, 2)
    add(store, "B", 3)
    store.remove_person("B", actor="t")
    real = store._call

    def crash_at_rename(method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "rename_collection":
            raise KeyboardInterrupt  # the old collection is dropped, the copy not yet renamed
        return real(method, *args, **kwargs)

    monkeypatch.setattr(store, "_call", crash_at_rename)
    with pytest.raises(KeyboardInterrupt):
        store.compact()
    monkeypatch.undo()
    store.close()
    again = MilvusStore(location("milvus-lite", tmp_path / "g"))
    ids, _, vectors, _ = again.vectors()
    assert ids.tolist() == [1, 2]
    np.testing.assert_array_equal(vectors[1], sample(2).vector)
    assert again.search(vectors[:1], 1)[1][0, 0] == 1
    again.close()


LOCKER = """
import sys
from facewise.errors import FacewiseError
from facewise.gallery.milvus import MilvusStore
try:
    MilvusStore({url!r})
except FacewiseError as exc:
    print("refused:", exc.message)
"""


def test_milvus_lite_refuses_a_second_process(milvus: MilvusStore) -> None:
    url = milvus.url
    out = subprocess.run(
        [sys.executable, "-c", LOCKER.format(url=url)], capture_output=True, text=True, timeout=120
    )
    assert "refused:" in out.stdout and "another process" in out.stdout, out.stderr[-2000:]
    milvus.close()  # releases the database: now another process may open it
    out = subprocess.run(
        [sys.executable, "-c", LOCKER.format(url=url)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "refused" not in out.stdout, out.stderr[-2000:]


def test_milvus_store_is_closed_cleanly(mstore: MilvusStore) -> None:
    mstore.close()
    mstore.close()  # idempotent
    with pytest.raises(FacewiseError, match="closed"):
        add(mstore, "A", 1)


def test_a_new_person_must_not_exist(store: Store) -> None:
    """Creating a person (new=True) is decided inside the enrolment's own transaction: a taken
    name is a Conflict and adds nothing, so two writers creating one name cannot both win."""
    assert store.add_samples(
        "Ada", SPACE, [sample(1)], consent="c", enrolled_by="t", expires_at=None, new=True
    )
    events = len(store.events())
    with pytest.raises(Conflict):
        store.add_samples(
            "Ada", SPACE, [sample(2)], consent="c", enrolled_by="t", expires_at=None, new=True
        )
    assert [(p.name, p.samples) for p in store.people()] == [("Ada", 1)]
    assert len(store.events()) == events and not store.has_image("Ada", f"{2:064x}")
