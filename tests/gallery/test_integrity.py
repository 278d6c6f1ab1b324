"""Gallery integrity (issue 16): one name rule, dates that always compare, ids never reused,
private files, no duplicate samples under concurrency, no server path or OS account stored.
The store-level tests run on both stores (SQLite and Milvus Lite)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import sqlite3
import stat
import string
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facewise.errors import Conflict, InvalidInput, NameTaken
from facewise.gallery.audit import redact_paths
from facewise.gallery.milvus import MilvusStore
from facewise.gallery.names import name_key, person_name
from facewise.gallery.records import NewSample, parse_time
from facewise.gallery.sqlite_store import SqliteStore
from facewise.types import EmbeddingSpace

SPACE = EmbeddingSpace("dlib-resnet", "a" * 64, 8, "cosine", "dlib-chip-150-0.25", True)
MILVUS_MISSING = [m for m in ("pymilvus", "milvus_lite") if importlib.util.find_spec(m) is None]
Store = Any


def sample(seed: int, *, source: str | None = None) -> NewSample:
    v = np.random.default_rng(seed).normal(size=8).astype(np.float32)
    return NewSample(
        v / np.linalg.norm(v), f"{seed:064x}", source or f"photo{seed}.jpg", 0.9, (1, 2, 3, 4)
    )


@pytest.fixture(params=["sqlite", "milvus-lite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        s: Store = SqliteStore(tmp_path / "g.sqlite")
    else:
        if MILVUS_MISSING:
            pytest.skip(f"{', '.join(MILVUS_MISSING)} not installed")
        s = MilvusStore(f"milvus-lite:///{tmp_path / 'g.db'}")
    yield s
    s.close()


def add(store: Store, name: str, *seeds: int, **kw: Any) -> list[int]:
    return list(
        store.add_samples(
            name,
            SPACE,
            [sample(s) for s in seeds],
            consent="form",
            enrolled_by="tester",
            expires_at=None,
            **kw,
        )
    )


# --- the name rule -------------------------------------------------------------------------------

GOOD = [
    "Ada",
    "ü名 🙂",
    "O'Brien",
    "back\\slash",
    'x" or name != "',
    "Ada Lovelace",
    "李小龙",
    "José",
    "ﬁona",
]
BAD = [
    "",
    " ",
    "   ",
    "\u200b",
    "Ada\u200b",
    "\u202eevil",
    "a/b",
    "\u3164",
    "\u2800",
    "Ada\ufe0f",
    ".",
    "..",
    " Ada",
    "Ada ",
    "x" * 201,
    "A\x00",
    "A\nB",
    "\u0301",
    "\ue000",
    "Ada\u2028",
]


@pytest.mark.parametrize("name", GOOD)
def test_names_that_follow_the_rule(name: str) -> None:
    stored = person_name(name)
    assert stored == unicodedata.normalize("NFKC", name)
    assert person_name(stored) == stored


@pytest.mark.parametrize("name", BAD)
def test_names_the_rule_refuses(name: str) -> None:
    with pytest.raises(InvalidInput):
        person_name(name)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Ada", "ADA"),  # case
        ("José", "Jose\u0301"),  # composed and decomposed accent
        ("fiona", "ﬁona"),  # a compatibility ligature
        ("Ada", "Ａｄａ"),  # full-width letters
        ("Ada", "\u0410da"),  # Cyrillic A
        ("Ada", "\u0430da"),  # Cyrillic a, then case
        ("Ada Lovelace", "Ada  Lovelace"),  # doubled space
        ("Ada Lovelace", "Ada\u00a0Lovelace"),  # no-break space
        ("Pope", "\u0420\u043e\u0440\u0435"),  # all Cyrillic: Р, о, р, е
    ],
)
def test_names_that_look_identical_are_one_person(store: Store, first: str, second: str) -> None:
    add(store, first, 1)
    with pytest.raises(Conflict):
        add(store, second, 2, new=True)
    if store.person(second) is None:  # not merely another normal form of the stored name
        with pytest.raises(NameTaken):  # create-or-add does not pick a look-alike either
            add(store, second, 2)
    add(store, "Someone Else", 3)
    with pytest.raises(NameTaken):
        store.rename("Someone Else", second, actor="t")
    assert [p.samples for p in store.people()] == [1, 1]


def test_look_alike_names_are_checked_against_other_writers(tmp_path: Path) -> None:
    """Milvus has no unique index: the name keys it keeps in memory follow every change made
    through any store object (here two on one Milvus Lite gallery)."""
    if MILVUS_MISSING:
        pytest.skip(f"{', '.join(MILVUS_MISSING)} not installed")
    url = f"milvus-lite:///{tmp_path / 'g.db'}"
    first, second = MilvusStore(url), MilvusStore(url)
    try:
        add(first, "Ada", 1)
        with pytest.raises(NameTaken):
            add(second, "ADA", 2)
        second.rename("Ada", "Bob", actor="t")
        with pytest.raises(NameTaken):
            add(first, "BOB", 3)
        add(first, "ADA", 4)  # free again
        second.remove_person("Bob", actor="t")
        add(first, "bob", 5)
        assert sorted(p.name for p in second.people()) == ["ADA", "bob"]
    finally:
        second.close()
        first.close()


def test_a_name_is_found_in_any_normal_form(store: Store) -> None:
    add(store, "Jose\u0301", 1)  # stored as NFKC "José"
    assert [p.name for p in store.people()] == ["José"]
    for asked in ("José", "Jose\u0301"):
        assert store.require(asked).samples == 1
        assert len(store.samples_of(asked)) == 1 and store.has_image(asked, f"{1:064x}")
    store.rename("Jose\u0301", "JOSÉ", actor="t")  # a person may change the case of their name
    assert [p.name for p in store.people()] == ["JOSÉ"]


def test_the_store_refuses_what_the_rule_refuses(store: Store) -> None:
    for bad in ("a/b", "\u200b", "Ada\u202e", "\u3164"):
        with pytest.raises(InvalidInput):
            add(store, bad, 1)
    add(store, "Ada", 1)
    with pytest.raises(InvalidInput):
        store.rename("Ada", "a/b", actor="t")
    assert store.person("a/b") is None and [p.name for p in store.people()] == ["Ada"]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=220))
def test_any_text_is_a_valid_name_or_refused(text: str) -> None:
    try:
        name = person_name(text)
    except InvalidInput:
        return
    assert name == unicodedata.normalize("NFKC", name) == person_name(name)
    assert 1 <= len(name) <= 200 and name == name.strip() and "/" not in name
    assert any(unicodedata.category(c)[0] in "LNPS" for c in name)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in name)
    assert name_key(name) == name_key(text) == name_key(name_key(name))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=30))
def test_ascii_names_differing_in_case_or_spacing_share_a_key(text: str) -> None:
    assert name_key(text.upper()) == name_key(text.lower()) == name_key(" ".join(text.split()))


def test_rest_and_cli_share_the_rule() -> None:
    """The REST schemas use the core rule: what one accepts the other accepts, in the same form."""
    from pydantic import ValidationError

    from facewise.server.schemas import CreateFields, MergeBody, RenameBody

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.text(max_size=220), st.sampled_from(GOOD + BAD)))
    def check(text: str) -> None:
        try:
            core: str | None = person_name(text)
        except InvalidInput:
            core = None
        for model, field in ((RenameBody, "name"), (MergeBody, "into")):
            try:
                rest: str | None = getattr(model.model_validate({field: text}), field)
            except ValidationError:
                rest = None
            assert rest == core, (text, rest, core)
        try:
            created = CreateFields.model_validate({"name": text, "consent": "c"}).name
        except ValidationError:
            created = None
        assert created == core

    check()


# --- dates ----------------------------------------------------------------------------------------

aware = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.timezones()
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(aware, aware)
def test_stored_times_sort_as_the_times_do(a: Any, b: Any) -> None:
    x, y = parse_time(a.isoformat()), parse_time(b.isoformat())
    assert len(x) == len(y) == 20 and x.endswith("Z") and x[4] == "-"
    assert (x < y) == (a.replace(microsecond=0) < b.replace(microsecond=0))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=50))
def test_any_text_is_a_time_or_invalid_input(text: str) -> None:
    try:
        value = parse_time(text)
    except InvalidInput:
        return
    assert len(value) == 20 and value.endswith("Z")


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-23:59"]
)
def test_times_outside_the_calendar_in_utc_are_refused(value: str) -> None:
    from facewise.gallery.samples import iso_time as _iso

    with pytest.raises(InvalidInput):
        _iso(value)


def test_a_year_before_1000_is_in_the_past(store: Store) -> None:
    """0999-01-01 was stored as "999-01-01..." and sorted after today: it never expired."""
    from facewise.gallery.samples import iso_time as _iso

    expiry = _iso("0999-06-01")
    assert expiry == "0999-06-01T00:00:00Z"
    store.add_samples("Old", SPACE, [sample(1)], consent="c", enrolled_by="t", expires_at=expiry)
    add(store, "New", 2)
    assert len(store.vectors()[0]) == 1  # only New's sample is live
    assert len(store.purge_expired(actor="t")) == 1


# --- ids ------------------------------------------------------------------------------------------


def test_ids_are_never_reused(store: Store) -> None:
    """A receipt names the person id and hashes of sample ids: a new person must never get them."""
    add(store, "Keep", 1)
    first = add(store, "Gone", 2, 3)
    gone = store.require("Gone").id
    store.remove_person("Gone", actor="t")
    later = add(store, "Later", 4)
    assert store.require("Later").id > gone
    assert min(later) > max(first)


OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE samples (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    vector BLOB NOT NULL, quality REAL NOT NULL, image_sha256 TEXT NOT NULL, source TEXT NOT NULL,
    consent TEXT NOT NULL, enrolled_at TEXT NOT NULL, enrolled_by TEXT NOT NULL, expires_at TEXT,
    bbox TEXT NOT NULL
);
CREATE INDEX samples_person ON samples(person_id);
CREATE TABLE audit (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, subject TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL);
"""


def test_a_gallery_made_before_autoincrement_is_upgraded(tmp_path: Path) -> None:
    """The 0.1 schema (ids reusable) is rebuilt once at open, rows and vectors kept, and the
    counters start above every id used, also of people deleted before the upgrade."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO meta VALUES('space', ?)", (json.dumps(SPACE.as_dict()),))
    vec = sample(1).vector.astype("<f4").tobytes()
    for pid, name in ((1, "Ada"), (2, "Grace"), (3, "Gone")):
        db.execute("INSERT INTO people VALUES(?, ?, '2026-01-01T00:00:00Z')", (pid, name))
        db.execute(
            "INSERT INTO samples VALUES(?, ?, ?, 0.9, ?, 'p.jpg', 'c', 'x', 't', NULL, '[1]')",
            (pid, pid, vec, f"{pid:064x}"),
        )
        db.execute(
            "INSERT INTO audit VALUES(?, 'x', 't', 'enrol', ?, ?, 'p', 'h')",
            (pid, name, '{"samples": 1}'),
        )
    db.execute("DELETE FROM samples WHERE person_id = 3")
    db.execute("DELETE FROM people WHERE id = 3")  # the highest ids are free again
    db.commit()
    db.close()

    store = SqliteStore(path)
    try:
        assert [(p.id, p.name, p.samples) for p in store.people()] == [
            (1, "Ada", 1),
            (2, "Grace", 1),
        ]
        np.testing.assert_array_equal(store.vectors()[2][0], sample(1).vector)
        [new_sample] = add(store, "New", 9)
        assert store.require("New").id > 3 and new_sample > 3
        with pytest.raises(NameTaken):  # the name keys were filled in
            add(store, "ADA", 10)
        tables = dict(store._rows("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        assert "AUTOINCREMENT" in tables["people"] and "AUTOINCREMENT" in tables["samples"]
        assert store._rows("PRAGMA foreign_key_check") == []
        store.remove_person("Ada", actor="t")  # cascades still hold
        assert store._rows("SELECT COUNT(*) FROM samples WHERE person_id = 1") == [(0,)]
    finally:
        store.close()
    SqliteStore(path).close()  # opening again does nothing more


# --- files ----------------------------------------------------------------------------------------


def test_a_new_gallery_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = SqliteStore(home / "gallery.sqlite")
    try:
        add(store, "Ada", 1)
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        for name in ("gallery.sqlite", "gallery.sqlite-wal"):
            assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    finally:
        store.close()


def test_a_home_made_by_the_key_store_is_private_too(tmp_path: Path) -> None:
    """`facewise keys create` before the first enrolment made the home 0755."""
    from facewise.server.keys import KeyStore

    home = tmp_path / "home"
    with KeyStore(home) as keys:
        keys.create("read", name="reader")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "keys.db").stat().st_mode) == 0o600


# --- duplicates -----------------------------------------------------------------------------------


def test_concurrent_uploads_of_one_image_store_it_once(store: Store) -> None:
    add(store, "Ada", 1)
    start = threading.Barrier(4)
    results: list[Any] = []

    def upload() -> None:
        start.wait()
        results.append(
            store.add_samples(
                "Ada", SPACE, [sample(7)], consent="c", enrolled_by="t", expires_at=None
            )
        )

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert sorted(len(r.dropped) for r in results) == [0, 1, 1, 1]
    assert [s.image_sha256 for s in store.samples_of("Ada")] == [f"{1:064x}", f"{7:064x}"]
    assert len(add(store, "Ada", 8, 8)) == 1  # the same image twice in one call: once


# --- no server path, no OS account ---------------------------------------------------------------


def test_audit_details_hold_no_server_path(store: Store) -> None:
    event = store.audit(
        "cli",
        "identify",
        "*",
        {"image": "/srv/private/photos/x.jpg", "faces": 1, "images": ["C:\\Users\\me\\y.png"]},
    )
    assert event.details == {"image": "x.jpg", "faces": 1, "images": ["y.png"]}
    [stored] = store.events()
    assert stored.details == event.details
    assert redact_paths({"consent": "form 2026/11/30"}) == {"consent": "form 2026/11/30"}


@pytest.mark.models
@pytest.mark.data
def test_cli_stores_base_names_and_no_account(
    tmp_path: Path, face_photo: Path, same_person: Path
) -> None:
    """``facewise enroll`` on absolute paths, one of them not UTF-8: exit 0, and what is stored
    (readable through the service) names neither a folder nor the OS account."""
    folder = tmp_path / "private folder"
    folder.mkdir()
    plain = folder / "ada.jpg"
    plain.write_bytes(face_photo.read_bytes())
    odd = Path(os.fsdecode(bytes(folder) + b"/caf\xe9.jpg"))
    odd.write_bytes(same_person.read_bytes())
    env = {**os.environ, "FACEWISE_HOME": str(tmp_path / "home")}
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from facewise.cli.main import main; main()",
            "enroll",
            "--person",
            "Ada",
            str(plain),
            os.fsencode(odd),
            "--consent",
            "form",
            "--json",
        ],
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
    for extra in (["--json"], []):  # identify the odd file too, as JSON and as text
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                "from facewise.cli.main import main; main()",
                "identify",
                os.fsencode(odd),
                *extra,
            ],
            capture_output=True,
            env=env,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
    store = SqliteStore(tmp_path / "home" / "gallery.sqlite")
    try:
        samples = store.samples_of("Ada")
        assert sorted(s.source for s in samples) == ["ada.jpg", "caf\ufffd.jpg"]
        assert {s.enrolled_by for s in samples} == {"cli"}
        events = store.events()
        assert {e.action for e in events} == {"enrol", "identify"}
        assert {e.actor for e in events} == {"cli"}
        assert str(folder) not in repr([s.as_dict() for s in samples] + events)
    finally:
        store.close()
