"""The REST routes on real faces: shapes shared with the CLI, auth and scopes, the people
lifecycle, validation, rate limit, CORS, metrics and the web page."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from facewise.cli.main import main
from facewise.server.app import create_app

from .server_helpers import Api, settings_for

pytestmark = [pytest.mark.models, pytest.mark.data]


def files(*paths: Path, field: str = "images") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field, (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def multipart(parts: list[tuple[str, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body of text parts only (httpx sends those url-encoded)."""
    out = b""
    for name, value in parts:
        out += (
            f'--b0undary\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    return out + b"--b0undary--\r\n", "multipart/form-data; boundary=b0undary"


def cli_json(home: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, [*args, "--json"], env={"FACEWISE_HOME": str(home)})
    assert result.exit_code == 0, result.output
    first: dict[str, Any] = json.loads(result.stdout.splitlines()[0])
    return first


# --- system ---------------------------------------------------------------------------------------


def test_health_and_readiness_need_no_key(api: Api, engine: Any, tmp_path: Path) -> None:
    assert api.call("GET", "/healthz", who=None).json() == {"status": "ok"}
    assert api.call("GET", "/readyz", who=None).json() == {"status": "ready"}
    cold = TestClient(create_app(settings_for(tmp_path / "home"), engine=engine))  # no lifespan
    assert cold.get("/healthz").status_code == 200
    response = cold.get("/readyz")
    assert response.status_code == 503 and response.json() == {"status": "starting"}
    response = cold.get("/v1/people", headers=api.auth())
    assert response.status_code == 503 and response.json()["code"] == "not_ready"


def test_keys_and_scopes(api: Api) -> None:
    assert api.call("GET", "/v1/whoami").json() == {
        "name": "admin",
        "scopes": ["read", "enrol", "admin"],
    }
    reader = api.call("GET", "/v1/whoami", who="read").json()
    assert reader == {"name": "reader", "scopes": ["read"]}
    real = api.keys["read"]
    refused = [
        api.call("GET", "/v1/people", who=None),
        api.call("GET", "/v1/people", who=None, headers={"Authorization": "Bearer nope"}),
        api.call("GET", "/v1/people", who=None, headers={"Authorization": f"Basic {real}"}),
        api.call("GET", "/v1/people", who=None, headers={"Authorization": f"Bearer {real}x"}),
        api.call("GET", "/v1/people", who=None, headers={"Authorization": f"Bearer {real[:-2]}"}),
        api.call("GET", "/v1/people", who="revoked"),
    ]
    for response in refused:  # one answer whatever was wrong: missing, malformed, wrong, revoked
        assert response.status_code == 401
        assert response.json() == refused[0].json()
        assert response.headers["www-authenticate"] == "Bearer"
    assert refused[0].json()["code"] == "unauthorized"
    forbidden = [
        api.call("POST", "/v1/people", who="read", data={"name": "x", "consent": "c"}),
        api.call("DELETE", "/v1/people/anyone", who="enrol"),
        api.call("GET", "/v1/audit", who="enrol"),
        api.call("POST", "/v1/people/anyone/forget", who="read"),
    ]
    for response in forbidden:
        assert response.status_code == 403 and response.json()["code"] == "forbidden"


def test_openapi_lists_the_contract(api: Api) -> None:
    spec = api.call("GET", "/openapi.json", who=None).json()
    routes = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert {
        ("/v1/detect", "post"),
        ("/v1/embed", "post"),
        ("/v1/verify", "post"),
        ("/v1/identify", "post"),
        ("/v1/analyze", "post"),
        ("/v1/people", "get"),
        ("/v1/people", "post"),
        ("/v1/people/{name}", "get"),
        ("/v1/people/{name}", "patch"),
        ("/v1/people/{name}", "delete"),
        ("/v1/people/{name}/samples", "post"),
        ("/v1/people/{name}/merge", "post"),
        ("/v1/people/{name}/forget", "post"),
        ("/v1/audit", "get"),
        ("/v1/audit/verify", "get"),
        ("/v1/whoami", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    } <= routes
    body = spec["paths"]["/v1/detect"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
    assert body["application/json"]["schema"]["properties"]["image"]["type"] == "string"
    # identify takes one image or several: file parts named image, or a string or a list
    body = spec["paths"]["/v1/identify"]["post"]["requestBody"]["content"]
    several = body["multipart/form-data"]["schema"]["properties"]["image"]
    assert several["type"] == "array" and several["items"]["format"] == "binary"
    shapes = body["application/json"]["schema"]["properties"]["image"]["anyOf"]
    assert {s["type"] for s in shapes} == {"string", "array"}
    assert api.call("GET", "/docs", who=None).status_code == 200


def test_web_page_and_static_files(api: Api) -> None:
    page = api.call("GET", "/", who=None)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text == api.call("GET", "/static/index.html", who=None).text
    # no other site may frame the page or sniff types, on pages and API answers alike
    for response in (page, api.call("GET", "/v1/people", who=None)):
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert api.call("GET", "/static/../app.py", who=None).status_code == 404
    assert api.call("GET", "/static/%2e%2e/app.py", who=None).status_code == 404
    assert api.call("GET", "/static/nothing.js", who=None).json()["code"] == "not_found"


# --- images ---------------------------------------------------------------------------------------


def test_detect_and_verify_match_the_cli(
    api: Api, group_photo: Path, same_person: Path, face_photo: Path, other_person: Path
) -> None:
    response = api.call("POST", "/v1/detect", who="read", files=files(group_photo, field="image"))
    assert response.status_code == 200
    faces = response.json()["faces"]
    assert len(faces) >= 5
    assert all(len(f["bbox"]) == 4 and len(f["landmarks"]) == 5 for f in faces)
    cli = cli_json(api.home, "detect", str(group_photo))
    assert faces == cli["faces"]

    same = api.call(
        "POST",
        "/v1/verify",
        files=[*files(face_photo, field="image_a"), *files(same_person, field="image_b")],
    ).json()
    assert same["verified"] is True and same["score"] >= same["threshold"]
    assert same == cli_json(api.home, "verify", str(face_photo), str(same_person))
    other = api.call(
        "POST",
        "/v1/verify?threshold_at=accuracy",
        json={"image_a": b64(face_photo), "image_b": b64(other_person)},
    ).json()
    assert other["verified"] is False and other["operating_point"] == "accuracy"


def test_embed_multipart_and_base64_agree(api: Api, face_photo: Path) -> None:
    by_form = api.call("POST", "/v1/embed", files=files(face_photo, field="image")).json()
    by_json = api.call("POST", "/v1/embed", json={"image": b64(face_photo)}).json()
    data_url = api.call(
        "POST", "/v1/embed", json={"image": "data:image/jpeg;base64," + b64(face_photo)}
    ).json()
    assert by_form == by_json == data_url
    [face] = by_form["faces"]
    vector = np.array(face["embedding"])
    assert vector.shape == (by_form["space"]["dim"],) == (128,)
    assert abs(np.linalg.norm(vector) - 1) < 1e-3


def test_analyze(api: Api, face_photo: Path) -> None:
    [face] = api.call("POST", "/v1/analyze", files=files(face_photo, field="image")).json()["faces"]
    assert face["detected"] is True and 0 < face["age"] < 100
    assert face["gender"] in ("male", "female") and face["expression"]
    assert {"yaw", "pitch", "roll"} <= set(face["pose"]) and 0 <= face["quality"] <= 1
    [only] = api.call(
        "POST", "/v1/analyze?what=age&largest=true", files=files(face_photo, field="image")
    ).json()["faces"]
    assert "age" in only and "expression" not in only and "pose" not in only
    bad = api.call("POST", "/v1/analyze?what=shoe_size", files=files(face_photo, field="image"))
    assert bad.status_code == 400 and "shoe_size" in bad.json()["message"]


# --- people ---------------------------------------------------------------------------------------


def test_people_lifecycle(
    make_api: Any, lfw_people: dict[str, list[Path]], face_photo: Path, tmp_path: Path
) -> None:
    # a gallery of its own: other tests enrol faces (face_photo among them) in the shared one
    api: Api = make_api("lifecycle")
    powell, blair, chavez = (lfw_people[n] for n in ("Colin_Powell", "Tony_Blair", "Hugo_Chavez"))
    for name, photos in (("Powell", powell), ("Blair", blair), ("Chavez", chavez)):
        response = api.call(
            "POST",
            "/v1/people",
            who="enrol",
            data={"name": name, "consent": "consent", "source": "lfw"},
            files=files(*photos[:3]),
        )
        assert response.status_code == 201, response.text
        assert response.json() == {"person": name, "enrolled": 3, "skipped": []}
    taken = api.call(
        "POST", "/v1/people", data={"name": "Blair", "consent": "consent"}, files=files(blair[5])
    )
    assert taken.status_code == 409 and taken.json()["code"] == "conflict"

    hit = api.call("POST", "/v1/identify?top=2", who="read", files=files(blair[3], field="image"))
    [face] = hit.json()["faces"]
    assert face["person"] == "Blair" and face["score"] == face["decision"]["score"]
    assert face["decision"]["accepted"] and face["score"] >= face["decision"]["threshold"]
    assert [c["person"] for c in face["candidates"]][:1] == ["Blair"]
    assert len(face["candidates"]) == 2
    assert len(face["bbox"]) == 4 and face["bbox"][0] < face["bbox"][2]
    probe = tmp_path / "probe.jpg"  # the CLI audits the path it was given: not a server path
    probe.write_bytes(blair[3].read_bytes())
    cli = cli_json(api.home, "identify", str(probe), "--top", "2")
    assert {k: v for k, v in face.items() if k not in ("person", "score")} == cli["faces"][0]
    [unknown] = api.call("POST", "/v1/identify", files=files(face_photo, field="image")).json()[
        "faces"
    ]
    assert unknown["person"] is None and unknown["decision"]["accepted"] is False

    more = api.call(
        "POST",
        "/v1/people/Powell/samples",
        who="enrol",
        data={"consent": "contract", "expires_at": "2099-01-01"},
        files=files(powell[0], powell[3], powell[3]),
    )
    assert more.status_code == 201
    assert more.json()["enrolled"] == 1
    assert [s["reason"] for s in more.json()["skipped"]] == [
        "already enrolled",
        "the same image twice in a request",
    ]
    shown = api.call("GET", "/v1/people/Powell", who="read").json()
    assert shown["name"] == "Powell" and len(shown["samples"]) == 4
    sample = shown["samples"][-1]
    assert sample["consent"] == "contract" and sample["enrolled_by"] == "key:enroller"
    assert sample["expires_at"] == "2099-01-01T00:00:00Z" and sample["source"] == powell[3].name
    assert shown["samples"][0]["source"] == "lfw"
    listed = {p["name"]: p["samples"] for p in api.call("GET", "/v1/people").json()["people"]}
    assert {"Powell": 4, "Blair": 3, "Chavez": 3}.items() <= listed.items()

    renamed = api.call("PATCH", "/v1/people/Chavez", json={"name": "Hugo Chavez"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Hugo Chavez"
    assert api.call("GET", "/v1/people/Chavez").status_code == 404
    clash = api.call("PATCH", "/v1/people/Blair", json={"name": "Powell"})
    assert clash.status_code == 409
    merged = api.call("POST", "/v1/people/Hugo Chavez/merge", json={"into": "Blair"})
    assert merged.status_code == 200 and merged.json()["name"] == "Blair"
    assert len(merged.json()["samples"]) == 6
    assert api.call("DELETE", "/v1/people/Blair").json() == {"removed": 6}

    receipt = api.call("POST", "/v1/people/Powell/forget").json()
    assert receipt["person"] == "Powell" and receipt["removed_samples"] == 4
    assert receipt["verified"] is True and receipt["reprobe"]["matched_forgotten_person"] == 0
    assert set(receipt) >= {"receipt_sha256", "audit_seq", "erased_from", "by"}
    assert receipt["by"] == "key:admin"
    for method, url, body in (
        ("GET", "/v1/people/Powell", None),
        ("DELETE", "/v1/people/Powell", None),
        ("POST", "/v1/people/Powell/forget", None),
        ("PATCH", "/v1/people/Powell", {"name": "P"}),
        ("POST", "/v1/people/Powell/merge", {"into": "Blair"}),
    ):
        gone = api.call(method, url, json=body)
        assert gone.status_code == 404 and gone.json()["code"] == "not_found", (method, url)
    gone = api.call(
        "POST", "/v1/people/Powell/samples", data={"consent": "c"}, files=files(powell[4])
    )
    assert gone.status_code == 404

    events = api.call("GET", "/v1/audit?limit=1000").json()["events"]
    actions = [(e["actor"], e["action"], e["subject"]) for e in events]
    for expected in (
        ("key:enroller", "enrol", "Powell"),
        ("key:reader", "identify", "*"),
        ("key:admin", "rename", "Chavez"),
        ("key:admin", "merge", "Hugo Chavez"),
        ("key:admin", "remove", "Blair"),
        ("key:admin", "forget-receipt", "Powell"),
    ):
        assert expected in actions
    assert receipt["audit_seq"] in [e["seq"] for e in events]
    page = api.call("GET", f"/v1/audit?after={events[1]['seq']}&limit=2").json()["events"]
    assert [e["seq"] for e in page] == [events[2]["seq"], events[3]["seq"]]
    assert api.call("GET", "/v1/audit?limit=1").json()["events"] == events[-1:]
    checked = api.call("GET", "/v1/audit/verify").json()
    assert checked["ok"] is True and checked["events"] == len(events)
    assert checked == cli_json(api.home, "audit", "--verify")


def test_enrol_refusals(
    api: Api, lfw_people: dict[str, list[Path]], no_face_photo: Path, group_photo: Path
) -> None:
    photo = lfw_people["Jacques_Chirac"][0]

    def enrol(data: dict[str, str], upload: list[Any] | None = None) -> Any:
        return api.call("POST", "/v1/people", data=data, files=upload or files(photo))

    nothing = enrol({"name": "Cup", "consent": "consent"}, files(no_face_photo))
    assert nothing.status_code == 422 and nothing.json()["code"] == "nothing_enrolled"
    assert nothing.json()["skipped"][0]["code"] == "no_face"
    assert nothing.json()["skipped"][0]["image"] == no_face_photo.name
    crowd = enrol({"name": "Crowd", "consent": "consent"}, files(group_photo))
    assert crowd.status_code == 422 and "faces" in crowd.json()["message"]
    assert api.call("GET", "/v1/people/Cup").status_code == 404  # enrolling nothing creates no one
    largest = enrol({"name": "Crowd", "consent": "consent", "largest": "true"}, files(group_photo))
    assert largest.status_code == 201 and largest.json()["enrolled"] == 1

    for data, upload, status, word in (
        ({"name": "R"}, None, 422, "consent"),
        ({"consent": "consent"}, None, 422, "name"),
        ({"name": "R", "consent": " "}, None, 422, "consent"),
        ({"name": "R\x07", "consent": "consent"}, None, 422, "control"),
        ({"name": "a/b", "consent": "consent"}, None, 422, "'/'"),
        ({"name": " R", "consent": "consent"}, None, 422, "spaces"),
        ({"name": "R" * 201, "consent": "consent"}, None, 422, "200"),
        ({"name": "R", "consent": "consent", "expires_at": "soon"}, None, 422, "date"),
        ({"name": "R", "consent": "consent", "colour": "red"}, None, 422, "colour"),
        ({"name": "R", "consent": "consent"}, files(*[photo] * 21), 422, "20 files"),
        (
            {"name": "R", "consent": "consent"},
            [("images", ("e.jpg", b"", "image/jpeg"))],
            400,
            "empty",
        ),
        ({"name": "R", "consent": "consent", "images": "/etc/passwd"}, [], 422, "file"),
    ):
        if upload == []:  # text parts only: the image as a string, which is never a path
            body, kind = multipart(list(data.items()))
            response = api.call("POST", "/v1/people", content=body, headers={"Content-Type": kind})
        else:
            response = enrol(data, upload)
        assert response.status_code == status, (data, response.text)
        assert word in response.json()["message"], (word, response.json())
    assert api.call("GET", "/v1/people/R").status_code == 404

    by_json = api.call(
        "POST",
        "/v1/people",
        json={"name": "Rumsfeld", "consent": "consent", "images": [b64(photo)]},
    )
    assert by_json.status_code == 201 and by_json.json()["skipped"] == []
    assert by_json.json()["enrolled"] == 1
    for payload, status in (
        ({"name": "R2", "consent": "consent", "images": [b64(photo)], "extra": 1}, 422),
        ({"name": "R2", "consent": "consent", "images": []}, 422),
        ({"name": "R2", "consent": "consent", "images": ["not base64!"]}, 400),
        ({"name": "R2", "consent": "consent", "images": "abc"}, 422),
        ({"name": 5, "consent": "consent", "images": [b64(photo)]}, 422),
    ):
        response = api.call("POST", "/v1/people", json=payload)
        assert response.status_code == status, (payload, response.text)
    unknown_query = api.call("GET", "/v1/people?colour=red")
    assert unknown_query.status_code == 422 and "colour" in unknown_query.json()["message"]
    assert (
        api.call("POST", "/v1/identify?top=0", files=files(photo, field="image")).status_code == 422
    )
    assert api.call("PATCH", "/v1/people/Rumsfeld", json={"name": "x", "y": 1}).status_code == 422


def test_metrics(api: Api, face_photo: Path) -> None:
    api.call("POST", "/v1/detect", files=files(face_photo, field="image"))
    api.call("GET", "/v1/people/nobody")
    assert api.call("GET", "/metrics", who=None).status_code == 401
    response = api.call("GET", "/metrics", who="read")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'route="/v1/detect",method="POST",status="200"}' in text
    assert 'route="/v1/people/{name}",method="GET",status="404"}' in text
    assert "facewise_http_request_duration_seconds_bucket{" in text and 'le="+Inf"' in text
    people = len(api.call("GET", "/v1/people").json()["people"])
    assert f"facewise_gallery_people {people}\n" in text


# --- limits and settings --------------------------------------------------------------------------


def test_rate_limit_cors_and_an_empty_gallery(make_api: Any, face_photo: Path) -> None:
    limited = make_api("limited", rate_limit=0.5, rate_burst=3, cors_origins="https://page.test")
    answers = [limited.call("GET", "/v1/whoami", who="read") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert limited.call("GET", "/v1/whoami", who="admin").status_code == 200  # per key
    assert limited.call("GET", "/healthz", who=None).status_code == 200  # no key, no limit

    preflight = {"Origin": "https://page.test", "Access-Control-Request-Method": "POST"}
    allowed = limited.call("OPTIONS", "/v1/identify", who=None, headers=preflight)
    assert allowed.headers["access-control-allow-origin"] == "https://page.test"
    elsewhere = limited.call(
        "OPTIONS", "/v1/identify", who=None, headers={**preflight, "Origin": "https://evil.test"}
    )
    assert "access-control-allow-origin" not in elsewhere.headers

    [face] = limited.call(
        "POST", "/v1/identify", who="admin", files=files(face_photo, field="image")
    ).json()["faces"]
    assert face["person"] is None and face["score"] is None and face["candidates"] == []
    # the empty index was written to its cache file, and reads back in another process
    assert (limited.home / "index.bin").is_file()
    assert cli_json(limited.home, "identify", str(face_photo))["faces"][0]["candidates"] == []


def test_cors_is_off_by_default(api: Api) -> None:
    response = api.call(
        "OPTIONS",
        "/v1/identify",
        who=None,
        headers={"Origin": "https://page.test", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code == 405
