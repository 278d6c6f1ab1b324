"""``facewise serve`` for real: uvicorn with 2 worker processes on a fresh FACEWISE_HOME, keys
made with ``facewise keys``; parallel enrol and identify clients lose no acknowledged write and
leave the audit chain intact; a 50 MB upload is refused before its body is sent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from facewise.cli.main import main

pytestmark = [pytest.mark.models, pytest.mark.data]

WORKERS = 2


def cli(home: Path, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(main, [*args, "--json"], env={"FACEWISE_HOME": str(home)})
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, json.loads(lines[0]) if lines else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_keys_commands(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, made = cli(home, "keys", "create", "--scope", "enrol", "--name", "kiosk")
    assert code == 0 and made["key"].startswith("fw_") and made["scope"] == "enrol"
    assert made["scopes"] == ["read", "enrol"] and made["name"] == "kiosk"
    code, _ = cli(home, "keys", "create", "--scope", "enrol", "--name", "kiosk")
    assert code == 2  # names are unique
    code, _ = cli(home, "keys", "create", "--scope", "root")
    assert code == 2
    code, _ = cli(home, "keys", "create", "--scope", "read", "--name", "bad name!")
    assert code == 2
    code, listed = cli(home, "keys", "list")
    assert [k["name"] for k in listed["keys"]] == ["kiosk"]
    assert made["key"] not in json.dumps(listed)  # never shown again
    stored = (home / "keys.db").read_bytes()
    secret = made["key"].split("_", 2)[2]  # fw_<id>_<secret>; the secret may contain "_"
    assert made["key"].encode() not in stored and secret.encode() not in stored
    assert oct((home / "keys.db").stat().st_mode & 0o777) == "0o600"
    code, revoked = cli(home, "keys", "revoke", "kiosk")
    assert code == 0 and revoked["revoked"] == made["id"] and revoked["revoked_at"]
    code, _ = cli(home, "keys", "revoke", "nobody")
    assert code == 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("serve") / "home"
    keys = {}
    for scope in ("admin", "enrol", "read"):
        code, made = cli(home, "keys", "create", "--scope", scope, "--name", scope)
        assert code == 0
        keys[scope] = made["key"]
    port = free_port()
    log = home / "server.log"
    env = {**os.environ, "FACEWISE_HOME": str(home), "FACEWISE_RATE_LIMIT": "0"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "facewise",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(WORKERS),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        yield {"url": url, "home": home, "keys": keys, "port": port, "log": log}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_served_on_loopback_with_health_and_limits(server: dict[str, Any]) -> None:
    url, keys = server["url"], server["keys"]
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/v1/whoami").status_code == 401
    who = httpx.get(f"{url}/v1/whoami", headers={"Authorization": f"Bearer {keys['read']}"})
    assert who.json() == {"name": "read", "scopes": ["read"]}
    # a 50 MB upload: the server answers 413 from the headers alone, before any body byte
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + keys["read"].encode() + b"\r\n"
            b"Content-Length: 52428800\r\n\r\n"
        )
        raw = b""
        while chunk := sock.recv(4096):  # the server closes the connection after the 413
            raw += chunk
        reply = raw.decode()
    assert reply.startswith("HTTP/1.1 413") and '"code":"request_too_large"' in reply
    for leak in ("Traceback", "/work/", "site-packages", str(server["home"])):
        assert leak not in reply


def test_parallel_enrol_and_identify_lose_nothing(
    server: dict[str, Any], lfw_people: dict[str, list[Path]]
) -> None:
    url, keys, home = server["url"], server["keys"], server["home"]
    people = {name: photos[:6] for name, photos in lfw_people.items()}
    acknowledged: dict[str, int] = {}
    statuses: list[int] = []
    identified: list[str | None] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def enrol(name: str, photos: list[Path]) -> None:
        with httpx.Client(
            base_url=url, timeout=60, headers={"Authorization": f"Bearer {keys['enrol']}"}
        ) as client:
            for i, photo in enumerate(photos):
                upload = {"images": (photo.name, photo.read_bytes(), "image/jpeg")}
                form = {"consent": "consent"}
                if i == 0:
                    response = client.post("/v1/people", data={**form, "name": name}, files=upload)
                else:
                    response = client.post(f"/v1/people/{name}/samples", data=form, files=upload)
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code == 201:
                        acknowledged[name] = acknowledged.get(name, 0) + response.json()["enrolled"]

    def identify(photo: Path, rounds: int) -> None:
        with httpx.Client(
            base_url=url, timeout=60, headers={"Authorization": f"Bearer {keys['read']}"}
        ) as client:
            for _ in range(rounds):
                response = client.post(
                    "/v1/identify", files={"image": (photo.name, photo.read_bytes(), "image/jpeg")}
                )
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        identified.extend(f["person"] for f in response.json()["faces"])

    def guarded(target: Any, *args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:
            errors.append(exc)

    probes = [photos[10] for photos in lfw_people.values()][:3]
    threads = [threading.Thread(target=guarded, args=(enrol, n, p)) for n, p in people.items()]
    threads += [threading.Thread(target=guarded, args=(identify, p, 6)) for p in probes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert statuses and all(s in (200, 201) for s in statuses), sorted(set(statuses))
    assert sum(acknowledged.values()) >= 25  # LFW has a few photos without a usable face
    assert len(identified) >= 18

    admin = {"Authorization": f"Bearer {keys['admin']}"}
    listed = httpx.get(f"{url}/v1/people", headers=admin).json()["people"]
    assert {p["name"]: p["samples"] for p in listed} == acknowledged
    for name in people:  # the other worker answers the same (both read one database)
        shown = httpx.get(f"{url}/v1/people/{name}", headers=admin).json()
        assert len(shown["samples"]) == acknowledged[name]
    checked = httpx.get(f"{url}/v1/audit/verify", headers=admin).json()
    assert checked["ok"] is True, checked
    events = httpx.get(f"{url}/v1/audit?limit=1000", headers=admin).json()["events"]
    enrolled = sum(e["details"]["samples"] for e in events if e["action"] == "enrol")
    assert enrolled == sum(acknowledged.values())
    assert sum(e["action"] == "identify" for e in events) == 18

    # after the test, identify finds the people enrolled by the other clients
    blair = lfw_people["Tony_Blair"][20]
    hit = httpx.post(
        f"{url}/v1/identify",
        headers=admin,
        files={"image": (blair.name, blair.read_bytes(), "image/jpeg")},
    ).json()
    assert hit["faces"][0]["person"] == "Tony_Blair"

    # the CLI, in this process, sees the same committed gallery and an intact chain
    code, cli_people = cli(home, "people", "list")
    assert code == 0 and {p["name"]: p["samples"] for p in cli_people["people"]} == acknowledged
    code, verified = cli(home, "audit", "--verify")
    assert code == 0 and verified["ok"] is True


def test_revocation_reaches_every_worker(server: dict[str, Any]) -> None:
    url, home = server["url"], server["home"]
    _, made = cli(home, "keys", "create", "--scope", "read", "--name", "temp")
    headers = {"Authorization": f"Bearer {made['key']}"}
    with httpx.Client(base_url=url, headers=headers) as client:
        assert all(client.get("/v1/whoami").status_code == 200 for _ in range(4))
        cli(home, "keys", "revoke", made["id"])
    for _ in range(6):  # new connections, spread over the workers
        assert httpx.get(f"{url}/v1/whoami", headers=headers).status_code == 401


def test_one_new_name_created_at_once_by_many_clients(
    server: dict[str, Any], lfw_people: dict[str, list[Path]]
) -> None:
    """Several clients create the same new person at once (spread over both workers): exactly
    one wins with 201, the others get 409, and the person holds only the winner's sample."""
    url, key = server["url"], server["keys"]["enrol"]
    photos = lfw_people["Hugo_Chavez"][6:12]
    statuses: list[int] = []
    start = threading.Barrier(len(photos))

    def create(photo: Path) -> None:
        with httpx.Client(
            base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            start.wait()
            response = client.post(
                "/v1/people",
                data={"name": "Raced", "consent": "consent"},
                files={"images": (photo.name, photo.read_bytes())},
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=create, args=(p,)) for p in photos]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * (len(photos) - 1), statuses
    person = httpx.get(f"{url}/v1/people/Raced", headers={"Authorization": f"Bearer {key}"})
    assert len(person.json()["samples"]) == 1
