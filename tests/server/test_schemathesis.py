"""Property-based requests generated from the OpenAPI document (schemathesis): whatever the
inputs, valid or not, the service never answers 5xx, and every error is its JSON shape."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from facewise.server.app import create_app
from facewise.settings import Settings

from .server_helpers import Api, assert_no_leak

pytestmark = [pytest.mark.models, pytest.mark.data]


@pytest.fixture(scope="module")
def fuzzed(make_api: Any, lfw_people: dict[str, Any]) -> Api:
    """An app of its own (schemathesis may rename, merge or forget anyone), with two people and
    a collection."""
    api: Api = make_api("fuzz")
    for name in ("Laura_Bush", "Jacques_Chirac"):
        photo = lfw_people[name][0]
        response = api.call(
            "POST",
            "/v1/people",
            data={"name": name, "consent": "consent"},
            files={"images": (photo.name, photo.read_bytes(), "image/jpeg")},
        )
        assert response.status_code == 201
    # the collection the OpenAPI examples name ("family", face and cluster 1)
    photos = [*lfw_people["Laura_Bush"][1:3], lfw_people["Tony_Blair"][0]]
    response = api.call(
        "POST",
        "/v1/collections/family/photos",
        files=[("image", (p.name, p.read_bytes(), "image/jpeg")) for p in photos],
    )
    assert response.status_code == 200
    return api


# The document comes from an app that is never started (building one touches nothing); the
# requests go to the started ``fuzzed`` app. (schemathesis.pytest.from_fixture does not run on
# pytest 9: it sets Function._nodeid, which pytest 9 no longer has.)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings()))


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: Any, fuzzed: Api) -> None:
    response = case.call(app=fuzzed.client.app, headers=fuzzed.auth("admin"))
    assert response.status_code < 500, (case.method, case.path, response.content[:300])
    assert_no_leak(response.content.decode("utf-8", "replace"), fuzzed.home)  # JPEGs too
    if response.status_code >= 400 and case.path != "/readyz":
        body = response.json()
        assert isinstance(body["code"], str) and isinstance(body["message"], str)
