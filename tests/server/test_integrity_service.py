"""Gallery integrity through the service (issue 16): an add-samples request that loses a race with
forget, rename, remove or merge is 404 and brings nobody back; one name rule; hostile JSON, extreme
times and cursors, and over-long chunked bodies are 4xx, never 5xx; no response to any key scope
names a server folder or an OS account; concurrent uploads of one photo store it once."""

from __future__ import annotations

import asyncio
import getpass
import json
import threading
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facewise.cli.main import main

from .server_helpers import Api, assert_no_leak

pytestmark = [pytest.mark.models, pytest.mark.data]

MB = 1024 * 1024


def files(*paths: Path, field: str = "images") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field, (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


@pytest.fixture(scope="module")
def api(make_api: Callable[..., Api]) -> Api:
    return make_api("integrity")  # a gallery of its own: these tests forget and merge people


def create(api: Api, name: str, photo: Path) -> None:
    made = api.call(
        "POST", "/v1/people", data={"name": name, "consent": "consent"}, files=files(photo)
    )
    assert made.status_code == 201, made.text


def hold_detection(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, threading.Event]:
    """Make the next enrolment stop inside face detection until ``release`` is set (it sets
    ``entered`` when it gets there): the window in which a slow add-samples request runs."""
    gallery = api.app.state.services.gallery
    real = gallery.sample_from
    entered, release = threading.Event(), threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(timeout=60)
        return real(*args, **kwargs)

    monkeypatch.setattr(gallery, "sample_from", slow)
    return entered, release


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        out["response"] = call()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


# --- defect 2: an in-flight add never re-creates or splits a person ------------------------------


@pytest.mark.parametrize("op", ["forget", "rename", "remove", "merge"])
def test_an_add_in_flight_during_an_erasure_is_404_and_stores_nothing(
    api: Api, lfw_people: dict[str, list[Path]], monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    powell, blair = lfw_people["Colin_Powell"], lfw_people["Tony_Blair"]
    name = f"Racer {op}"
    create(api, name, powell[0])
    if op == "merge":
        create(api, "Merge Target", blair[0])
    entered, release = hold_detection(api, monkeypatch)
    thread, out = in_thread(
        lambda: api.call(
            "POST",
            f"/v1/people/{name}/samples",
            who="enrol",
            data={"consent": "consent"},
            files=files(powell[1], powell[2]),
        )
    )
    assert entered.wait(timeout=60)  # the add checked that the person exists, and is detecting
    done = {
        "forget": lambda: api.call("POST", f"/v1/people/{name}/forget"),
        "rename": lambda: api.call("PATCH", f"/v1/people/{name}", json={"name": "Renamed"}),
        "remove": lambda: api.call("DELETE", f"/v1/people/{name}"),
        "merge": lambda: api.call(
            "POST", f"/v1/people/{name}/merge", json={"into": "Merge Target"}
        ),
    }[op]()
    assert done.status_code == 200, done.text
    release.set()
    thread.join(timeout=120)
    added = out["response"]
    assert added.status_code == 404 and added.json()["code"] == "not_found", added.text
    assert api.call("GET", f"/v1/people/{name}").status_code == 404  # not re-created
    people = {p["name"]: p["samples"] for p in api.call("GET", "/v1/people").json()["people"]}
    assert name not in people
    if op == "forget":
        assert done.json()["verified"] and done.json()["removed_samples"] == 1
    if op == "rename":  # one person, not split in two
        assert people.pop("Renamed") == 1
    if op == "merge":
        assert people.pop("Merge Target") == 2
    for leftover in ("Renamed", "Merge Target"):
        if leftover in people:
            api.call("DELETE", f"/v1/people/{leftover}")


def test_concurrent_uploads_of_one_photo_store_it_once(
    api: Api, lfw_people: dict[str, list[Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    chavez = lfw_people["Hugo_Chavez"]
    create(api, "Twice", chavez[0])
    gallery = api.app.state.services.gallery
    real, both = gallery.sample_from, threading.Barrier(2)

    def together(*args: Any, **kwargs: Any) -> Any:
        both.wait(timeout=60)  # both requests passed the has-image check before either writes
        return real(*args, **kwargs)

    monkeypatch.setattr(gallery, "sample_from", together)
    workers = [
        in_thread(
            lambda: api.call(
                "POST",
                "/v1/people/Twice/samples",
                who="enrol",
                data={"consent": "consent"},
                files=files(chavez[1]),
            )
        )
        for _ in range(2)
    ]
    for thread, _ in workers:
        thread.join(timeout=120)
    answers = sorted((out["response"].json() for _, out in workers), key=lambda a: -a["enrolled"])
    assert [a["enrolled"] for a in answers] == [1, 0]
    assert answers[1]["skipped"] == [{"image": chavez[1].name, "reason": "already enrolled"}]
    assert len(api.call("GET", "/v1/people/Twice").json()["samples"]) == 2


# --- defect 4: one name rule ---------------------------------------------------------------------


def test_names_that_look_identical_are_one_person(
    api: Api, lfw_people: dict[str, list[Path]], tmp_path: Path
) -> None:
    bush = lfw_people["Laura_Bush"]
    create(api, "José Ángel", bush[0])
    for twin in (
        "JOSÉ ÁNGEL",
        "Jose\u0301 A\u0301ngel",
        "José\u00a0Ángel",
        "José  Ángel",
        "J\u043es\u00e9 Ángel",
    ):  # case, NFD, no-break space, double space, Cyrillic о
        again = api.call(
            "POST", "/v1/people", data={"name": twin, "consent": "consent"}, files=files(bush[1])
        )
        assert again.status_code == 409 and again.json()["code"] == "conflict", (twin, again.text)
    assert api.call("GET", "/v1/people/Jose\u0301 A\u0301ngel").json()["name"] == "José Ángel"
    for bad in ("\u200b", "Ada\u202e", "\u3164", "a/b", " Ada", "..", "Ada\ufe0f"):
        refused = api.call(
            "POST", "/v1/people", data={"name": bad, "consent": "consent"}, files=files(bush[1])
        )
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_request", bad
        renamed = api.call("PATCH", "/v1/people/José Ángel", json={"name": bad})
        assert renamed.status_code == 422, bad
        result = CliRunner().invoke(
            main,
            ["enroll", "--person", bad, str(bush[1]), "--json"],
            env={"FACEWISE_HOME": str(tmp_path / "cli")},
        )
        assert result.exit_code == 2, (bad, result.output)  # the CLI refuses the same names
        assert json.loads(result.stdout)["error"]["code"] == "invalid_input"
    create(api, "Someone", bush[2])
    clash = api.call("PATCH", "/v1/people/Someone", json={"name": "josé ángel"})
    assert clash.status_code == 409
    recased = api.call("PATCH", "/v1/people/José Ángel", json={"name": "JOSÉ ÁNGEL"})
    assert recased.status_code == 200  # the same person may change the case of their name


# --- defect 6: every parse error is a 4xx -------------------------------------------------------

ROUTES = [  # (method, url) of every route that takes a body
    ("POST", "/v1/detect"),
    ("POST", "/v1/embed"),
    ("POST", "/v1/verify"),
    ("POST", "/v1/identify"),
    ("POST", "/v1/analyze"),
    ("POST", "/v1/people"),
    ("POST", "/v1/people/Nobody/samples"),
    ("PATCH", "/v1/people/Nobody"),
    ("POST", "/v1/people/Nobody/merge"),
]
HOSTILE = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"image": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"name": ' + b"9" * 5000 + b"}",
    b'{"image": "aGk=", "top": ' + b"1" * 10_000 + b"}",
    b'{"name": 1e999999, "consent": -1e999999}',
    b'{"name": "x", "consent": "c", "images": ["aGk="], "expires_at": "9999-12-31T23:59-01:00"}',
    b'{"name": "x", "consent": "c", "images": ["aGk="], "expires_at": "0001-01-01T00:00+01:00"}',
    b'{"name": "x", "consent": "c", "images": ["aGk="], "expires_at": "+99999-01-01"}',
    b"\xff\xfe{}",
    b'{"into": {"$ne": null}}',
]


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_hostile_json_bodies_are_4xx(api: Api, method: str, url: str) -> None:
    for body in HOSTILE:
        response = api.call(method, url, content=body, headers={"Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (url, body[:60], response.text[:300])
        assert set(response.json()) >= {"code", "message"}


def test_extreme_times_and_cursors_are_4xx(api: Api, lfw_people: dict[str, list[Path]]) -> None:
    photo = lfw_people["Laura_Bush"][3]
    for expiry in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"):
        response = api.call(
            "POST",
            "/v1/people",
            files=files(photo),
            data={"name": "Expiry", "consent": "c", "expires_at": expiry},
        )
        assert response.status_code == 422, response.text
    for after in (str(2**63), str(10**30), "9" * 5000, "-1", "1e3"):
        response = api.call("GET", f"/v1/audit?after={after}")
        assert response.status_code == 422, (after, response.text[:200])
    assert api.call("GET", f"/v1/audit?after={2**63 - 1}").json() == {"events": []}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "image",
    "image_a",
    "image_b",
    "images",
    "name",
    "into",
    "consent",
    "source",
    "expires_at",
    "largest",
]
bodies = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(FIELDS), json_values | st.text(max_size=60), max_size=6),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(route=st.sampled_from(ROUTES), body=bodies)
def test_any_json_body_on_any_route_is_never_5xx(
    api: Api, route: tuple[str, str], body: Any
) -> None:
    method, url = route
    response = api.call(
        method, url, content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code < 500, (url, body, response.text[:300])


# --- defect 7: a chunked body over the limit is 413 -----------------------------------------------


def test_a_chunked_multipart_body_over_the_limit_is_413(api: Api) -> None:
    app = api.app
    limit = app.state.services.settings.max_request_bytes
    part = (
        b'--xx\r\nContent-Disposition: form-data; name="images"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n"
    )

    async def run(path: str) -> tuple[int, bytes]:
        pulled = 0

        async def receive() -> dict[str, Any]:
            nonlocal pulled
            pulled += 1
            chunk = part if pulled == 1 else b"\0" * MB
            return {"type": "http.request", "body": chunk, "more_body": pulled < 60}

        sent: list[MutableMapping[str, Any]] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "headers": [
                (b"authorization", f"Bearer {api.keys['admin']}".encode()),
                (b"content-type", b"multipart/form-data; boundary=xx"),
            ],
        }
        await app(scope, receive, send)
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        assert pulled <= limit // MB + 2  # refused as soon as the limit passed
        return sent[0]["status"], body

    for path in ("/v1/detect", "/v1/people", "/v1/identify"):
        status, body = asyncio.run(run(path))
        assert status == 413 and json.loads(body)["code"] == "request_too_large", (path, body)


# --- defect 5: no server folder or OS account in any response, whatever the key -----------------


def test_no_response_to_any_scope_names_a_server_folder_or_account(
    api: Api, lfw_people: dict[str, list[Path]], tmp_path: Path
) -> None:
    folder = tmp_path / "operator's private photos"
    folder.mkdir()
    photo = folder / "powell.jpg"
    photo.write_bytes(lfw_people["Colin_Powell"][5].read_bytes())
    result = CliRunner().invoke(  # an operator enrols on the server's gallery with the CLI
        main,
        ["enroll", "--person", "Cli Enrolled", str(photo), "--consent", "form", "--json"],
        env={"FACEWISE_HOME": str(api.home)},
    )
    assert result.exit_code == 0, result.output
    account = f"cli:{getpass.getuser()}"
    routes = [r for r in api.client.get("/openapi.json").json()["paths"].items()]
    assert routes
    seen = 0
    for who in ("read", "enrol", "admin"):
        for path, ops in routes:
            if "get" not in ops:
                continue
            url = path.replace("{name}", "Cli Enrolled")
            response = api.call("GET", url, who=who)
            assert_no_leak(response.text, tmp_path)
            assert str(folder) not in response.text and account not in response.text, url
            seen += response.status_code == 200
    shown = api.call("GET", "/v1/people/Cli Enrolled", who="read").json()
    assert [(s["source"], s["enrolled_by"]) for s in shown["samples"]] == [("powell.jpg", "cli")]
    events = api.call("GET", "/v1/audit?limit=1000").json()["events"]
    assert {e["actor"] for e in events if e["subject"] == "Cli Enrolled"} == {"cli"}
    assert seen >= 3 * 4  # healthz, readyz, people, the person, ... answered for every scope
