"""Collections over REST on real LFW photos: uploads (multipart and base64 JSON), the clusters and
their thumbnails, every decision with the key's actor in the decision log, enrolling a named
cluster into the gallery, names, scopes and the OpenAPI document."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from .server_helpers import Api

pytestmark = [pytest.mark.models, pytest.mark.data]

HOSTILE = "<img src=x onerror=alert(1)>"


def _files(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("image", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def _person(label: str) -> str:
    return label.rsplit("_", 1)[0]


def _main_faces(summary: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Each photo's largest face (the one LFW labels): photo label -> (face id, cluster id or
    -1 when unclustered)."""
    best: dict[str, tuple[float, int, int]] = {}
    groups = [(c["id"], c["faces"]) for c in summary["clusters"]] + [(-1, summary["unclustered"])]
    for cluster, faces in groups:
        for f in faces:
            x1, y1, x2, y2 = f["bbox"]
            area = (x2 - x1) * (y2 - y1)
            if area > best.get(f["path"], (0.0, 0, 0))[0]:
                best[f["path"]] = (area, f["face"], cluster)
    return {path: (face, cluster) for path, (_, face, cluster) in best.items()}


def _cluster_of(summary: dict[str, Any], person: str) -> int:
    """The one cluster that holds the main face of every photo of ``person``."""
    found = {c for p, (_, c) in _main_faces(summary).items() if _person(p) == person}
    assert len(found) == 1 and -1 not in found, (person, found)
    return found.pop()


@pytest.fixture(scope="module")
def album_photos(lfw_people: dict[str, list[Path]]) -> list[Path]:
    """Three photos each of Colin Powell and Tony Blair, one each of Hugo Chavez and Laura
    Bush."""
    return [
        *lfw_people["Colin_Powell"][:3],
        *lfw_people["Tony_Blair"][:3],
        lfw_people["Hugo_Chavez"][0],
        lfw_people["Laura_Bush"][0],
    ]


@pytest.fixture(scope="module")
def capi(make_api: Any) -> Api:
    """An app of its own: these tests enrol and name people."""
    api: Api = make_api("collections")
    return api


@pytest.fixture(scope="module")
def album(capi: Api, album_photos: list[Path]) -> dict[str, Any]:
    """The collection "album" made by one multipart upload; its answer."""
    response = capi.call(
        "POST", "/v1/collections/album/photos", who="enrol", files=_files(album_photos)
    )
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


def _copy(capi: Api, name: str) -> str:
    """A copy of the album under ``name`` (no photo embedded twice) for a test that changes it."""
    root = capi.home / "collections"
    shutil.copytree(root / "album", root / name)
    return name


def test_upload_clusters_the_people_and_leaves_strangers_alone(
    capi: Api, album: dict[str, Any], album_photos: list[Path]
) -> None:
    assert album["name"] == "album"
    assert album["added"] == {
        "photos_added": 8,
        "photos_known": 0,
        "faces_added": album["added"]["faces_added"],
        "errors": [],
    }
    assert album["added"]["faces_added"] >= 8
    powell, blair = _cluster_of(album, "Colin_Powell"), _cluster_of(album, "Tony_Blair")
    assert powell != blair
    main = _main_faces(album)
    assert sorted(main) == sorted(p.name for p in album_photos)  # labels: the file names
    for once in ("Hugo_Chavez", "Laura_Bush"):
        assert [c for p, (_, c) in main.items() if _person(p) == once] == [-1]
    for cluster in album["clusters"]:
        assert cluster["size"] == len(cluster["faces"]) and cluster["name"] is None
        best = max(cluster["faces"], key=lambda f: f["quality"])
        assert cluster["cover"] == best["face"]

    # the same photo again: known, nothing embedded twice; GET answers the same collection
    again = capi.call(
        "POST", "/v1/collections/album/photos", who="enrol", files=_files(album_photos[:1])
    )
    assert again.status_code == 200
    assert again.json()["added"]["photos_known"] == 1
    assert again.json()["added"]["photos_added"] == 0
    shown = capi.call("GET", "/v1/collections/album", who="read")
    assert shown.status_code == 200
    assert shown.json() == {k: v for k, v in album.items() if k != "added"}


def test_base64_json_and_per_photo_errors(capi: Api, lfw_people: dict[str, list[Path]]) -> None:
    good = base64.b64encode(lfw_people["Jacques_Chirac"][0].read_bytes()).decode()
    junk = base64.b64encode(b"not an image at all").decode()
    response = capi.call(
        "POST", "/v1/collections/json-one/photos", json={"image": [good, junk]}, who="enrol"
    )
    assert response.status_code == 200, response.text
    added = response.json()["added"]
    assert added["photos_added"] == 1 and added["faces_added"] >= 1
    assert [e["path"] for e in added["errors"]] == ["image[1]"]
    assert added["errors"][0]["error"]["code"] == "image_decode_error"

    one = capi.call(
        "POST", "/v1/collections/json-one/photos", json={"image": "data:image/jpeg;base64," + good}
    )
    assert one.status_code == 200 and one.json()["added"]["photos_known"] == 1

    # a string is never a path or a URL; no images at all is a bad request
    for value in ("/etc/passwd", "http://127.0.0.1/x.jpg", "../../secret.jpg"):
        response = capi.call("POST", "/v1/collections/json-one/photos", json={"image": value})
        assert response.status_code == 400, (value, response.text)
        assert "never read" in response.json()["message"]
    assert (
        capi.call("POST", "/v1/collections/json-one/photos", json={"image": []}).status_code == 422
    )
    too_many = {"image": [good] * 21}
    assert capi.call("POST", "/v1/collections/json-one/photos", json=too_many).status_code == 422
    text_part = capi.call(  # a multipart text part where a file goes
        "POST",
        "/v1/collections/json-one/photos",
        content=b'--b0\r\nContent-Disposition: form-data; name="image"\r\n\r\n/etc/passwd\r\n'
        b"--b0--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b0"},
    )
    assert text_part.status_code == 422 and "never reads paths" in text_part.json()["message"]


def test_names_scopes_and_missing_collections(capi: Api, album: dict[str, Any]) -> None:
    for bad in ("a.b", "x" * 65, "caf\u00e9", "a..b", "a b", "%2e%2e"):
        response = capi.call("GET", f"/v1/collections/{bad}", who="read")
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["code"] == "invalid_input"
    jpeg = [("image", ("a.jpg", b"\xff\xd8", "image/jpeg"))]
    assert capi.call("POST", "/v1/collections/a.b/photos", files=jpeg).status_code == 400

    missing = capi.call("GET", "/v1/collections/nobody-here", who="read")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    for path in ("clusters/1/name", "faces/1/reject", "recluster"):
        body = {"name": "X"} if path.endswith("name") else None
        assert (
            capi.call("POST", f"/v1/collections/nobody-here/{path}", json=body).status_code == 404
        )
    assert not (capi.home / "collections" / "nobody-here").exists(), "a read created a folder"

    # read < enrol: a read key sees, only an enrol key changes; no key is 401
    assert capi.call("GET", "/v1/collections/album", who=None).status_code == 401
    assert capi.call("GET", "/v1/collections", who="revoked").status_code == 401
    cluster = album["clusters"][0]["id"]
    denied = capi.call(
        "POST", f"/v1/collections/album/clusters/{cluster}/name", json={"name": "X"}, who="read"
    )
    assert denied.status_code == 403
    assert (
        capi.call("POST", "/v1/collections/album/photos", files=jpeg, who="read").status_code == 403
    )
    assert capi.call("GET", "/v1/collections/album/decisions", who="enrol").status_code == 403

    listed = capi.call("GET", "/v1/collections", who="read").json()["collections"]
    row = next(r for r in listed if r["name"] == "album")
    faces = sum(c["size"] for c in album["clusters"]) + len(album["unclustered"])
    assert row == {
        "name": "album",
        "clusters": len(album["clusters"]),
        "named": 0,
        "faces": faces,
        "unclustered": len(album["unclustered"]),
    }
    assert "nobody-here" not in {r["name"] for r in listed}


def test_thumbnails_are_jpeg_faces(capi: Api, album: dict[str, Any]) -> None:
    cover = album["clusters"][0]["cover"]
    response = capi.call("GET", f"/v1/collections/album/faces/{cover}/thumbnail", who="read")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "JPEG" and image.width == image.height >= 64
    assert (
        capi.call("GET", f"/v1/collections/album/faces/{cover}/thumbnail", who=None).status_code
        == 401
    )
    for face, status in ((999999, 404), (0, 422), (2**63, 422)):
        response = capi.call("GET", f"/v1/collections/album/faces/{face}/thumbnail", who="read")
        assert response.status_code == status, (face, response.text)


def test_decisions_answer_the_new_collection_and_name_the_key(
    capi: Api, album: dict[str, Any]
) -> None:
    name = _copy(capi, "decide")
    url = f"/v1/collections/{name}"

    def post(path: str, body: Any = None) -> dict[str, Any]:
        response = capi.call("POST", f"{url}/{path}", json=body, who="enrol")
        assert response.status_code == 200, (path, response.text)
        out: dict[str, Any] = response.json()
        return out

    powell, blair = _cluster_of(album, "Colin_Powell"), _cluster_of(album, "Tony_Blair")
    summary = post(f"clusters/{powell}/name", {"name": "Colin Powell"})
    named = next(c for c in summary["clusters"] if c["id"] == powell)
    assert named["name"] == "Colin Powell" and all(f["pinned"] for f in named["faces"])

    # a hostile name is just a name; another cluster cannot take a name that is in use
    summary = post(f"clusters/{blair}/name", {"name": HOSTILE})
    assert next(c for c in summary["clusters"] if c["id"] == blair)["name"] == HOSTILE
    taken = capi.call("POST", f"{url}/clusters/{blair}/name", json={"name": "Colin Powell"})
    assert taken.status_code == 409 and taken.json()["code"] == "conflict"
    bad_name = capi.call("POST", f"{url}/clusters/{blair}/name", json={"name": "a/b"})
    assert bad_name.status_code == 422
    both_named = capi.call("POST", f"{url}/clusters/{powell}/merge", json={"other": blair})
    assert both_named.status_code == 409
    itself = capi.call("POST", f"{url}/clusters/{powell}/merge", json={"other": powell})
    assert itself.status_code == 400
    assert (
        capi.call("POST", f"{url}/clusters/999999/merge", json={"other": powell}).status_code == 404
    )

    # reject a face of Blair's cluster: unclustered, and it stays out through a recluster
    faces = [f["face"] for f in next(c for c in summary["clusters"] if c["id"] == blair)["faces"]]
    summary = post(f"faces/{faces[0]}/reject")
    assert faces[0] in {f["face"] for f in summary["unclustered"]}
    again = capi.call("POST", f"{url}/faces/{faces[0]}/reject")
    assert again.status_code == 400  # in no cluster now
    summary = post("recluster")
    assert faces[0] in {f["face"] for f in summary["unclustered"]}
    assert next(c for c in summary["clusters"] if c["id"] == powell)["name"] == "Colin Powell"

    # move it back (lifts the rejection), confirm it, split it off, merge the split back
    summary = post(f"faces/{faces[0]}/move", {"cluster": blair})
    assert faces[0] in {
        f["face"] for f in next(c for c in summary["clusters"] if c["id"] == blair)["faces"]
    }
    post(f"faces/{faces[0]}/confirm")
    summary = post(f"clusters/{blair}/split", {"faces": [faces[0]]})
    new = summary["new_cluster"]
    assert [f["face"] for f in next(c for c in summary["clusters"] if c["id"] == new)["faces"]] == [
        faces[0]
    ]
    summary = post(f"clusters/{blair}/merge", {"other": new})
    assert new not in {c["id"] for c in summary["clusters"]}
    assert capi.call("POST", f"{url}/clusters/{blair}/split", json={"faces": []}).status_code == 422

    log = capi.call("GET", f"{url}/decisions").json()["decisions"]
    actions = [d["action"] for d in log]
    assert actions == ["name", "name", "reject", "recluster", "move", "confirm", "split", "merge"]
    assert {d["actor"] for d in log} == {"key:enroller"}
    assert log[1]["name"] == HOSTILE


def test_enrol_a_named_cluster_into_the_gallery(
    capi: Api, album: dict[str, Any], lfw_people: dict[str, list[Path]]
) -> None:
    name = _copy(capi, "enrol")
    powell = _cluster_of(album, "Colin_Powell")
    url = f"/v1/collections/{name}/clusters/{powell}/enrol"
    unnamed = capi.call("POST", url, json={"consent": "signed form"}, who="enrol")
    assert unnamed.status_code == 400 and "name cluster" in unnamed.json()["message"]
    assert capi.call("POST", url, json={}, who="enrol").status_code == 422  # consent needed

    capi.call("POST", f"/v1/collections/{name}/clusters/{powell}/name", json={"name": "Powell"})
    response = capi.call(
        "POST", url, json={"consent": "signed form", "expires_at": "2099-01-01"}, who="enrol"
    )
    assert response.status_code == 201, response.text
    size = next(c for c in album["clusters"] if c["id"] == powell)["size"]
    assert response.json() == {"cluster": powell, "person": "Powell", "enrolled": size}
    person = capi.call("GET", "/v1/people/Powell", who="read").json()
    assert {s["consent"] for s in person["samples"]} == {"signed form"}
    assert {s["enrolled_by"] for s in person["samples"]} == {"key:enroller"}

    probe = lfw_people["Colin_Powell"][5]
    found = capi.call("POST", "/v1/identify", files=_files([probe]), who="read").json()
    assert [f["person"] for f in found["faces"]][:1] == ["Powell"]
    shown = capi.call("GET", f"/v1/collections/{name}", who="read").json()
    assert next(c for c in shown["clusters"] if c["id"] == powell)["person"] == "Powell"


def test_the_question_queue_over_rest(capi: Api, album: dict[str, Any]) -> None:
    name = _copy(capi, "ask")
    url = f"/v1/collections/{name}"
    empty = capi.call("GET", f"{url}/questions", who="read")
    assert empty.status_code == 200 and empty.json()["queue"] == []  # nothing named yet
    powell = _cluster_of(album, "Colin_Powell")
    capi.call("POST", f"{url}/clusters/{powell}/name", json={"name": "Powell"}, who="enrol")
    faces = [f["face"] for f in next(c for c in album["clusters"] if c["id"] == powell)["faces"]]
    # split one face off, then take it out of its new cluster: unclustered, never rejected
    # from Powell's
    capi.call("POST", f"{url}/clusters/{powell}/split", json={"faces": faces[:1]})
    capi.call("POST", f"{url}/faces/{faces[0]}/reject", who="enrol")

    queue = capi.call("GET", f"{url}/questions?limit=5", who="read").json()["queue"]
    asked = next(q for q in queue if q["face"] == faces[0])
    assert asked["cluster"] == powell and asked["name"] == "Powell"
    assert asked["member"] is False and asked["confidence"] > 0.5, "his own face, asked back"
    assert len(queue) <= 5 and queue == sorted(queue, key=lambda q: -q["gain"])

    body = {"cluster": powell, "face": faces[0], "answer": "no"}
    denied = capi.call("POST", f"{url}/questions/answer", json=body, who="read")
    assert denied.status_code == 403
    shown = capi.call("POST", f"{url}/questions/answer", json=body, who="enrol")
    assert shown.status_code == 200, shown.text
    assert faces[0] in {f["face"] for f in shown.json()["unclustered"]}
    later = capi.call("GET", f"{url}/questions?limit=200", who="read").json()["queue"]
    assert faces[0] not in {q["face"] for q in later if q["cluster"] == powell}
    yes = capi.call("POST", f"{url}/questions/answer", json={**body, "answer": "yes"})
    members = next(c for c in yes.json()["clusters"] if c["id"] == powell)["faces"]
    assert faces[0] in {f["face"] for f in members}, "a yes puts the face there"

    for bad, status in (
        ({"cluster": powell, "answer": "yes"}, 400),  # neither a face nor a cluster
        ({"cluster": powell, "face": faces[0], "other": powell, "answer": "no"}, 400),
        ({"cluster": powell, "face": faces[0], "answer": "maybe"}, 422),
        ({"cluster": 999999, "face": faces[0], "answer": "no"}, 404),
        ({"cluster": powell, "face": 999999, "answer": "no"}, 404),
    ):
        response = capi.call("POST", f"{url}/questions/answer", json=bad, who="enrol")
        assert response.status_code == status, (bad, response.text)
    assert capi.call("GET", f"{url}/questions?limit=0", who="read").status_code == 422
    assert capi.call("GET", "/v1/collections/nobody-here/questions").status_code == 404
    actions = [d["action"] for d in capi.call("GET", f"{url}/decisions").json()["decisions"]]
    assert actions[-2:] == ["not_in", "move"]


def test_every_collection_route_is_documented(capi: Api) -> None:
    paths = capi.call("GET", "/openapi.json", who=None).json()["paths"]
    expected = {
        "/v1/collections": {"get"},
        "/v1/collections/{name}": {"get"},
        "/v1/collections/{name}/photos": {"post"},
        "/v1/collections/{name}/faces/{face}/thumbnail": {"get"},
        "/v1/collections/{name}/clusters/{cluster}/name": {"post"},
        "/v1/collections/{name}/clusters/{cluster}/merge": {"post"},
        "/v1/collections/{name}/clusters/{cluster}/split": {"post"},
        "/v1/collections/{name}/clusters/{cluster}/enrol": {"post"},
        "/v1/collections/{name}/faces/{face}/reject": {"post"},
        "/v1/collections/{name}/faces/{face}/confirm": {"post"},
        "/v1/collections/{name}/faces/{face}/move": {"post"},
        "/v1/collections/{name}/recluster": {"post"},
        "/v1/collections/{name}/decisions": {"get"},
        "/v1/collections/{name}/questions": {"get"},
        "/v1/collections/{name}/questions/answer": {"post"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert set(paths[path]) >= methods, path
    photos = paths["/v1/collections/{name}/photos"]["post"]["requestBody"]["content"]
    assert set(photos) == {"multipart/form-data", "application/json"}
    thumb = paths["/v1/collections/{name}/faces/{face}/thumbnail"]["get"]["responses"]["200"]
    assert "image/jpeg" in thumb["content"]
