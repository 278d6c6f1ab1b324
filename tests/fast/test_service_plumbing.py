"""The REST service's routes on fakes (facewise.testing: no weights, no data): the people
lifecycle, several images in one identify, errors as JSON, audit. The same routes on real faces,
schemathesis and the browser are in tests/server and tests/e2e."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facewise.server.app import create_app
from facewise.server.keys import KeyStore
from facewise.settings import Settings
from facewise.testing import face_png, fake_engine, no_face_png

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    home = tmp_path_factory.mktemp("service") / "home"
    with KeyStore(home) as keys:
        admin = keys.create("admin", name="admin")[0]
        read = keys.create("read", name="reader")[0]
    settings = dataclasses.replace(Settings(), home=home, rate_limit=0.0)
    app = create_app(settings, engine=fake_engine(), warm_up=False)
    with TestClient(app) as client:
        yield client, {"admin": f"Bearer {admin}", "read": f"Bearer {read}"}


def call(api: Any, method: str, url: str, who: str = "admin", **kw: Any) -> Any:
    client, keys = api
    headers = {"Authorization": keys[who], **kw.pop("headers", {})}
    response = client.request(method, url, headers=headers, **kw)
    assert "Traceback" not in response.text and "/tmp/" not in response.text
    return response


def photos(*faces: tuple[int, int], field: str = "images") -> list[Any]:
    return [(field, (f"{i}-{v}.png", face_png(i, v), "image/png")) for i, v in faces]


def test_people_lifecycle(api: Any) -> None:
    created = call(
        api,
        "POST",
        "/v1/people",
        data={"name": "Ada", "consent": "form 1"},
        files=photos((1, 0), (1, 1)),
    )
    assert created.status_code == 201 and created.json()["enrolled"] == 2
    taken = call(
        api, "POST", "/v1/people", data={"name": "ada", "consent": "c"}, files=photos((2, 0))
    )
    assert taken.status_code == 409  # the same name under the name rule
    more = call(
        api,
        "POST",
        "/v1/people/Ada/samples",
        data={"consent": "form 2"},
        files=photos((1, 2), (1, 0)),
    )
    assert more.status_code == 201 and more.json()["enrolled"] == 1
    assert more.json()["skipped"][0]["reason"] == "already enrolled"
    nothing = call(
        api,
        "POST",
        "/v1/people",
        data={"name": "Bea", "consent": "c"},
        files=[("images", ("blank.png", no_face_png(), "image/png"))],
    )
    assert nothing.status_code == 422 and nothing.json()["code"] == "nothing_enrolled"
    assert call(api, "GET", "/v1/people/Nobody").status_code == 404
    person = call(api, "GET", "/v1/people/Ada", who="read").json()
    assert [s["consent"] for s in person["samples"]] == ["form 1", "form 1", "form 2"]

    b64 = [base64.b64encode(face_png(1, 9)).decode(), base64.b64encode(face_png(600, 0)).decode()]
    found = call(api, "POST", "/v1/identify", who="read", json={"image": b64}).json()["images"]
    assert [i["faces"][0]["person"] for i in found] == ["Ada", None]
    decision = found[0]["faces"][0]["decision"]
    assert decision["gallery_size"] == 1 and decision["fpir_at_score"] <= 0.01

    renamed = call(api, "PATCH", "/v1/people/Ada", json={"name": "Ada L."})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ada L."
    receipt = call(api, "POST", "/v1/people/Ada%20L./forget").json()
    assert receipt["removed_samples"] == 3 and receipt["verified"]
    gone = call(api, "POST", "/v1/identify", who="read", files=photos((1, 9), field="image")).json()
    assert gone["faces"][0]["person"] is None
    events = [e["action"] for e in call(api, "GET", "/v1/audit").json()["events"]]
    assert events[:3] == ["enrol", "enrol", "identify"] and "forget-receipt" in events
    assert call(api, "GET", "/v1/audit/verify").json()["ok"]


def test_scopes_and_bad_input(api: Any) -> None:
    client, _ = api
    assert client.post("/v1/identify", files=photos((1, 0), field="image")).status_code == 401
    denied = call(
        api,
        "POST",
        "/v1/people",
        who="read",
        data={"name": "X", "consent": "c"},
        files=photos((3, 0)),
    )
    assert denied.status_code == 403
    broken = call(
        api,
        "POST",
        "/v1/identify",
        who="read",
        files=[("image", ("x.png", b"\x89PNG not really", "image/png"))],
    )
    assert broken.status_code == 415 and set(broken.json()) == {"code", "message"}
    path = call(api, "POST", "/v1/identify", who="read", json={"image": "/etc/passwd"})
    assert 400 <= path.status_code < 500
    deep = call(
        api,
        "POST",
        "/v1/identify",
        who="read",
        content=b"[" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= deep.status_code < 500


def test_health_and_readiness(api: Any, tmp_path: Path) -> None:
    client, _ = api
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
