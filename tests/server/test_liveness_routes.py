"""POST /v1/liveness, the enrolment field ``liveness`` and POST /v1/identify?liveness=true on
real NUAA frames (../shared, never copied) of the subjects the bundled model never saw."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from facewise.cli.main import main
from testdata import dataset

from .server_helpers import Api

pytestmark = [pytest.mark.models, pytest.mark.data]


@pytest.fixture(scope="module")
def api(make_api: Callable[..., Api]) -> Api:
    return make_api("liveness")  # a gallery of its own: these tests enrol NUAA subjects


@pytest.fixture(scope="module")
def frames() -> dict[tuple[str, str], list[Path]]:
    """(label, subject) -> frame paths of the held-out subjects 0015 and 0016, in frame order."""
    root = dataset("antispoof/nuaa_raw_test_subset")
    out: dict[tuple[str, str], list[tuple[int, Path]]] = {}
    with (root / "manifest.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["subject"] in ("0015", "0016"):
                key = (row["label"], row["subject"])
                out.setdefault(key, []).append((int(row["frame_no"]), root / row["path"]))
    return {k: [p for _, p in sorted(v)] for k, v in out.items()}


def upload(path: Path, field: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field, (path.name, path.read_bytes(), "image/jpeg"))]


def cli_lines(home: Path, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, [*args, "--json"], env={"FACEWISE_HOME": str(home)})
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_liveness_route(
    api: Api, frames: dict[tuple[str, str], list[Path]], no_face_photo: Path
) -> None:
    live, attack = frames[("live", "0015")][0], frames[("spoof", "0016")][0]
    answers = [
        api.call("POST", "/v1/liveness", who="read", files=upload(p, "image"))
        for p in (live, attack)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    (a,), (b,) = (r.json()["faces"] for r in answers)
    assert list(a) == ["bbox", "live", "score", "threshold"]
    assert a["live"] is True and a["score"] >= a["threshold"]
    assert b["live"] is False and b["score"] < b["threshold"]
    cli = cli_lines(api.home, "liveness", str(live), str(attack))
    assert [{"faces": [a]}, {"faces": [b]}] == [{"faces": c["faces"]} for c in cli]
    bad = api.call(
        "POST", "/v1/liveness", files=[("image", ("x.jpg", b"not an image", "image/jpeg"))]
    )
    assert bad.status_code == 415 and bad.json()["code"] == "image_decode_error"
    empty = api.call("POST", "/v1/liveness", files=upload(no_face_photo, "image"))
    assert empty.status_code == 200 and empty.json() == {"faces": []}


def test_enrolment_refuses_an_attack_and_identify_reports_liveness(
    api: Api, frames: dict[tuple[str, str], list[Path]]
) -> None:
    lives, photos = frames[("live", "0015")], frames[("spoof", "0015")]
    fields = {"name": "Subject 15", "consent": "consent", "liveness": "true"}
    refused = api.call(
        "POST", "/v1/people", who="enrol", data=fields, files=upload(photos[0], "images")
    )
    assert refused.status_code == 422, refused.text
    (skip,) = refused.json()["skipped"]
    assert skip["code"] == "presentation_attack" and skip["image"] == photos[0].name
    assert api.call("GET", "/v1/people/Subject 15").status_code == 404  # nobody was created
    made = api.call(
        "POST", "/v1/people", who="enrol", data=fields, files=upload(lives[0], "images")
    )
    assert made.status_code == 201 and made.json()["enrolled"] == 1

    plain = api.call("POST", "/v1/identify", who="read", files=upload(lives[25], "image")).json()
    assert plain["faces"][0]["person"] == "Subject 15" and "liveness" not in plain["faces"][0]
    found = {
        name: api.call(
            "POST", "/v1/identify?liveness=true", who="read", files=upload(path, "image")
        ).json()["faces"][0]
        for name, path in (("live", lives[25]), ("photo", photos[15]))
    }
    assert found["live"]["liveness"]["live"] is True
    assert list(found["live"]["liveness"]) == ["live", "score", "threshold"]
    # the printed photo of an enrolled person: whoever it matches, it is judged an attack
    assert found["photo"]["liveness"]["live"] is False
    (cli,) = cli_lines(api.home, "identify", str(photos[15]), "--liveness")
    assert {k: v for k, v in found["photo"].items() if k not in ("person", "score")} == cli[
        "faces"
    ][0]


def test_verify_reports_the_liveness_of_both_faces(
    api: Api, frames: dict[tuple[str, str], list[Path]]
) -> None:
    live, photo = frames[("live", "0015")][5], frames[("spoof", "0015")][15]  # as above
    files = [*upload(live, "image_a"), *upload(photo, "image_b")]
    plain = api.call("POST", "/v1/verify", who="read", files=files)
    assert plain.status_code == 200 and "liveness" not in plain.json()["face_a"]
    judged = api.call("POST", "/v1/verify?liveness=true", who="read", files=files)
    assert judged.status_code == 200, judged.text
    out = judged.json()
    assert out["face_a"]["liveness"]["live"] is True
    assert out["face_b"]["liveness"]["live"] is False, "a printed photo is an attack"
    assert out["score"] == plain.json()["score"], "the comparison itself is unchanged"
    (cli,) = cli_lines(api.home, "verify", str(live), str(photo), "--liveness")
    assert cli["face_a"]["liveness"] == out["face_a"]["liveness"]
    assert cli["face_b"]["liveness"] == out["face_b"]["liveness"]


def test_the_camera_challenge_is_decided_by_the_server(
    api: Api, frames: dict[tuple[str, str], list[Path]]
) -> None:
    started = api.call("POST", "/v1/challenge", who="read")
    assert started.status_code == 201, started.text
    first = started.json()
    assert sorted(first["steps"]) == ["blink", "turn"] and first["step"] == first["steps"][0]
    assert (first["state"], first["frames"], first["live"]) == ("pending", 0, False)
    url = f"/v1/challenge/{first['id']}/frame"

    # a real face in a real sequence moves a little: never "frozen"
    lives = frames[("live", "0015")]
    for path in lives[:8]:
        step = api.call("POST", url, who="read", files=upload(path, "image")).json()
    assert step["frames"] == 8 and step["faces"] == 8
    assert step["reason"] != "frozen" and step["state"] != "passed", step

    # the same frame again and again (a photo held up, or a replay): frozen, with the fallback
    replay = api.call("POST", "/v1/challenge", who="read").json()
    url = f"/v1/challenge/{replay['id']}/frame"
    for _ in range(6):
        out = api.call("POST", url, who="read", files=upload(lives[0], "image")).json()
    assert (out["state"], out["reason"], out["live"]) == ("failed", "frozen", False)
    assert "did not move" in out["message"] and "another way" in out["message"]
    after = api.call("POST", url, who="read", files=upload(lives[1], "image")).json()
    assert (after["state"], after["reason"]) == ("failed", "frozen"), "a decision is final"

    # not an image: 415 and nothing counted; another key's or an unknown challenge: 404
    mine = api.call("POST", "/v1/challenge", who="enrol").json()
    url = f"/v1/challenge/{mine['id']}/frame"
    junk = [("image", ("x.jpg", b"not an image", "image/jpeg"))]
    assert api.call("POST", url, who="enrol", files=junk).status_code == 415
    other = api.call("POST", url, who="read", files=upload(lives[0], "image"))
    assert other.status_code == 404
    unknown = api.call("POST", "/v1/challenge/nope/frame", files=upload(lives[0], "image"))
    assert unknown.status_code == 404
    counted = api.call("POST", url, who="enrol", files=upload(lives[0], "image")).json()
    assert counted["frames"] == 1
    assert api.call("POST", "/v1/challenge", json={"timeout_s": 1}).status_code == 422
    assert api.call("POST", "/v1/challenge", who=None).status_code == 401

    # the server's clock: a frame after the timeout fails the challenge
    challenges = api.app.state.services.challenges
    short = api.call("POST", "/v1/challenge", who="read", json={"timeout_s": 3}).json()
    url = f"/v1/challenge/{short['id']}/frame"
    api.call("POST", url, who="read", files=upload(lives[0], "image"))
    real = challenges.clock
    challenges.clock = lambda: real() + 4.0
    try:
        late = api.call("POST", url, who="read", files=upload(lives[1], "image")).json()
    finally:
        challenges.clock = real
    assert (late["state"], late["reason"]) == ("failed", "timeout"), late
