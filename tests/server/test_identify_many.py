"""POST /v1/identify with several images in one request: one entry per image in order, a bad
image answered on its own, the size limit on the whole request, and decisions that say what a
score means (the same fields as the CLI)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from .server_helpers import Api

pytestmark = [pytest.mark.models, pytest.mark.data]


@pytest.fixture(scope="module")
def enrolled(make_api: Any, lfw_people: dict[str, list[Path]]) -> Api:
    api: Api = make_api("identify-many")
    for name in ("Colin_Powell", "Tony_Blair"):
        photos = lfw_people[name][:2]
        response = api.call(
            "POST",
            "/v1/people",
            who="enrol",
            data={"name": name, "consent": "test"},
            files=[("images", (p.name, p.read_bytes(), "image/jpeg")) for p in photos],
        )
        assert response.status_code == 201, response.text
    return api


def test_several_images_in_one_request(
    enrolled: Api, lfw_people: dict[str, list[Path]], face_photo: Path
) -> None:
    powell, blair = lfw_people["Colin_Powell"][3], lfw_people["Tony_Blair"][3]
    parts = [
        ("image", ("powell.jpg", powell.read_bytes(), "image/jpeg")),
        ("image", ("broken.jpg", b"\xff\xd8\xff\xe0 not a jpeg", "image/jpeg")),
        ("image", ("stranger.jpg", face_photo.read_bytes(), "image/jpeg")),
        ("image", ("blair.jpg", blair.read_bytes(), "image/jpeg")),
    ]
    response = enrolled.call("POST", "/v1/identify?top=2", who="read", files=parts)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["faces"] is None  # the single-image shorthand only for one image
    images = out["images"]
    assert [i["image"] for i in images] == ["powell.jpg", "broken.jpg", "stranger.jpg", "blair.jpg"]
    assert images[1]["faces"] is None and images[1]["error"]["code"]
    assert "message" in images[1]["error"]
    for entry, who in ((images[0], "Colin_Powell"), (images[3], "Tony_Blair")):
        [face] = entry["faces"]
        d = face["decision"]
        assert face["person"] == d["person"] == who and d["accepted"]
        assert d["gallery_size"] == 2 and d["fpir"] == 0.01
        assert 0 < d["fmr"] <= d["fpir_at_score"] <= 0.01
        assert entry["error"] is None
    [unknown] = images[2]["faces"]
    assert unknown["person"] is None and unknown["decision"]["fpir_at_score"] > 0.01

    # JSON: a list of base64 strings, or one string as before
    b64 = [base64.b64encode(p.read_bytes()).decode() for p in (powell, blair)]
    listed = enrolled.call("POST", "/v1/identify", who="read", json={"image": b64}).json()
    assert [i["image"] for i in listed["images"]] == ["image[0]", "image[1]"]
    assert [i["faces"][0]["person"] for i in listed["images"]] == ["Colin_Powell", "Tony_Blair"]
    one = enrolled.call("POST", "/v1/identify", who="read", json={"image": b64[1]}).json()
    assert one["faces"][0]["person"] == "Tony_Blair" == one["images"][0]["faces"][0]["person"]
    # each searched image is one audit event
    events = enrolled.call("GET", "/v1/audit").json()["events"]
    assert sum(e["action"] == "identify" for e in events) == 3 + 2 + 1


def test_one_bad_image_alone_is_still_an_error(enrolled: Api) -> None:
    response = enrolled.call(
        "POST",
        "/v1/identify",
        who="read",
        files=[("image", ("x.jpg", b"\xff\xd8 nope", "image/jpeg"))],
    )
    assert 400 <= response.status_code < 500 and response.json()["code"]


def test_limits_apply_to_the_whole_request(
    make_api: Any, lfw_people: dict[str, list[Path]]
) -> None:
    photos = lfw_people["Hugo_Chavez"][:4]
    each = max(p.stat().st_size for p in photos)
    small = make_api("identify-limit", max_request_bytes=2 * each + 4096)
    one = small.call(
        "POST",
        "/v1/identify",
        who="read",
        files=[("image", (photos[0].name, photos[0].read_bytes(), "image/jpeg"))],
    )
    assert one.status_code == 200, one.text
    parts = [("image", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    assert small.call("POST", "/v1/identify", who="read", files=parts).status_code == 413
    many = [parts[0]] * 21
    assert small.call("POST", "/v1/identify", who="read", files=many).status_code in (400, 413)
    b64 = base64.b64encode(photos[0].read_bytes()).decode()
    too_many = small.call("POST", "/v1/identify", who="read", json={"image": [b64[:8]] * 21})
    assert too_many.status_code == 422 and "20" in too_many.json()["message"]
