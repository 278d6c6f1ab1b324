"""Hostile inputs get a 4xx JSON error, never a 5xx, a traceback or a server path."""

from __future__ import annotations

import asyncio
import base64
import struct
import zlib
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from facewise.server.app import create_app

from .server_helpers import Api, assert_no_leak

pytestmark = [pytest.mark.models, pytest.mark.data]

MB = 1024 * 1024


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * (width * 3 + 1) * 8)  # a few rows; the rest never arrives
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages "
    b"/Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)


def test_decompression_bomb_is_413(api: Api) -> None:
    bomb = png_bomb()
    assert len(bomb) < 100_000
    for response in (
        api.call("POST", "/v1/detect", files={"image": ("bomb.png", bomb, "image/png")}),
        api.call("POST", "/v1/identify", json={"image": base64.b64encode(bomb).decode()}),
    ):
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "image_too_large"
    enrol = api.call(
        "POST",
        "/v1/people",
        data={"name": "Bomb", "consent": "consent"},
        files={"images": ("bomb.png", bomb, "image/png")},
    )
    assert enrol.status_code == 422
    assert enrol.json()["skipped"][0]["code"] == "image_too_large"


@pytest.mark.parametrize(
    ("what", "status", "code"),
    [
        ("pdf", 415, "image_decode_error"),
        ("truncated", 415, "image_decode_error"),
        ("text", 415, "image_decode_error"),
        ("path-named", 200, None),
    ],
)
def test_bad_files(api: Api, face_photo: Path, what: str, status: int, code: str | None) -> None:
    data = face_photo.read_bytes()
    upload = {
        "pdf": ("paper.pdf", PDF, "application/pdf"),
        "truncated": ("half.jpg", data[: len(data) // 2], "image/jpeg"),
        "text": ("notes.jpg", b"/etc/passwd", "image/jpeg"),
        "path-named": ("/etc/passwd", data, "image/jpeg"),  # a path as the file *name*
    }[what]
    response = api.call("POST", "/v1/detect", files={"image": upload})
    assert response.status_code == status, response.text
    if code:
        assert response.json()["code"] == code
    enrol = api.call(
        "POST",
        "/v1/people",
        data={"name": f"Bad {what}", "consent": "consent"},
        files={"images": upload},
    )
    if code:
        assert enrol.status_code == 422 and enrol.json()["skipped"][0]["code"] == code
    else:  # the file's name is only a label: its base name, never opened
        assert enrol.status_code == 201 and enrol.json()["person"] == "Bad path-named"
        shown = api.call("GET", "/v1/people/Bad path-named").json()
        assert shown["samples"][0]["source"] == "passwd"


@pytest.mark.parametrize(
    "value",
    [
        "/etc/passwd",
        "http://169.254.169.254/",
        "file:///etc/passwd",
        "../../../../etc/shadow",
        "~/.ssh/id_rsa",
    ],
)
def test_paths_and_urls_are_never_read(api: Api, value: str) -> None:
    # as a multipart text part where a file is expected
    body = (
        f'--xx\r\nContent-Disposition: form-data; name="image"\r\n\r\n{value}\r\n--xx--\r\n'
    ).encode()
    as_text = api.call(
        "POST",
        "/v1/identify",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert as_text.status_code == 422 and "never reads paths or URLs" in as_text.json()["message"]
    # as the JSON string: only ever decoded as base64
    as_json = api.call("POST", "/v1/detect", json={"image": value})
    assert as_json.status_code in (400, 415), as_json.text
    assert as_json.json()["code"] in ("invalid_input", "image_decode_error")
    both = api.call("POST", "/v1/verify", json={"image_a": value, "image_b": value})
    assert 400 <= both.status_code < 500
    assert "root:" not in as_json.text + both.text  # nothing of /etc/passwd comes back


def test_other_malformed_requests(api: Api) -> None:
    cases: list[tuple[dict[str, Any], int]] = [
        ({"content": b"\x00\x01", "headers": {"Content-Type": "image/jpeg"}}, 415),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422),
        ({"content": b"[1, 2]", "headers": {"Content-Type": "application/json"}}, 422),
        ({"content": b"--x\r\ngarbage", "headers": {"Content-Type": "multipart/form-data"}}, 400),
        (
            {
                "content": b"--x\r\ngarbage",  # the parser skips it: no parts, so no image
                "headers": {"Content-Type": "multipart/form-data; boundary=x"},
            },
            422,
        ),
        ({"json": {"image": ""}}, 422),
        ({"json": {"image": None}}, 422),
        ({"json": {"img": "aGk="}}, 422),
        ({"json": {"image": "aGk=", "image_b": "aGk="}}, 422),
        ({"files": {"image": ("a.jpg", b"", "image/jpeg")}}, 400),
        (
            {
                "files": [
                    ("image", ("a.jpg", b"x", "image/jpeg")),
                    ("image", ("b.jpg", b"y", "image/jpeg")),
                ]
            },
            422,
        ),
        ({"files": {"picture": ("a.jpg", b"x", "image/jpeg")}}, 422),
    ]
    for kwargs, status in cases:
        response = api.call("POST", "/v1/detect", **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        assert set(response.json()) == {"code", "message"}
    assert api.call("PUT", "/v1/detect").status_code == 405
    assert api.call("GET", "/v1/nothing").json() == {"code": "not_found", "message": "Not Found"}
    long_name = api.call("GET", "/v1/people/" + "x" * 300)
    assert long_name.status_code == 422


def test_a_50mb_body_is_refused_before_it_is_read(api: Api, engine: Any) -> None:
    declared = api.call(
        "POST",
        "/v1/detect",
        content=b"x" * (50 * MB),
        headers={"Content-Type": "application/json"},
    )
    assert declared.status_code == 413 and declared.json()["code"] == "request_too_large"
    assert declared.headers["connection"] == "close"

    # at the ASGI level: how much of the body does the app pull before it answers?
    app = create_app(api.app.state.services.settings, engine=engine)
    app.state.services = api.app.state.services

    async def run(headers: list[tuple[bytes, bytes]]) -> tuple[int, int, bytes]:
        pulled = 0

        async def receive() -> dict[str, Any]:
            nonlocal pulled
            pulled += 1
            return {"type": "http.request", "body": b"\0" * MB, "more_body": pulled < 50}

        sent: list[MutableMapping[str, Any]] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/detect",
            "raw_path": b"/v1/detect",
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "headers": [(b"authorization", f"Bearer {api.keys['admin']}".encode()), *headers],
        }
        await app(scope, receive, send)
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return sent[0]["status"], pulled, body

    limit = api.app.state.services.settings.max_request_bytes
    status, pulled, body = asyncio.run(
        run([(b"content-type", b"application/json"), (b"content-length", str(50 * MB).encode())])
    )
    assert (status, pulled) == (413, 0) and b"request_too_large" in body
    # no Content-Length (chunked): read until the limit is passed, then refused
    status, pulled, body = asyncio.run(run([(b"content-type", b"application/json")]))
    assert status == 413 and b"request_too_large" in body
    assert pulled == limit // MB + 1 < 50
    status, pulled, body = asyncio.run(run([(b"content-length", b"12x")]))
    assert status == 400 and pulled == 0
    assert_no_leak(body.decode(), api.home)


def test_unexpected_errors_are_500_without_details(
    api: Api, engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.testclient import TestClient

    from facewise.errors import InvalidInput, ModelError

    home = api.home
    app = create_app(api.app.state.services.settings, engine=engine)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"cannot open {home}/gallery.sqlite")

    @app.get("/model")
    def model() -> None:
        raise ModelError(f"weights missing at {Path(__file__).resolve()}")

    @app.get("/bad")
    def bad() -> None:
        raise InvalidInput(f"{home.resolve()}/x.jpg is not a file")

    client = TestClient(app)
    with caplog.at_level("ERROR"):
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"code": "internal", "message": "internal error"}
    assert "Traceback" in caplog.text and "RuntimeError" in caplog.text  # logged server-side
    response = client.get("/model")
    assert response.status_code == 500
    assert response.json() == {"code": "model_error", "message": "internal error"}
    response = client.get("/bad")
    assert response.status_code == 400
    assert response.json()["message"] == "<server path>/x.jpg is not a file"
    for path in ("/boom", "/model", "/bad"):
        assert_no_leak(client.get(path).text, home)
