"""The real ``facewise serve`` for the browser tests: one server per module, in a fresh
FACEWISE_HOME, with an admin key made by ``facewise keys create``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

READY_TIMEOUT_S = 120.0  # the models load at start-up


@dataclass(frozen=True)
class Server:
    url: str
    key: str
    home: Path
    log: Path


def facewise_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m facewise``."""
    script = Path(sys.executable).with_name("facewise")
    return [str(script)] if script.exists() else [sys.executable, "-m", "facewise"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"facewise serve exited with {process.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    pytest.fail(f"facewise serve not ready after {READY_TIMEOUT_S:.0f} s:\n{tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lfw: Path) -> Iterator[Server]:
    """``facewise serve`` on a free local port; stopped (terminate, then kill) at the end."""
    home = tmp_path_factory.mktemp("facewise-home")
    log = tmp_path_factory.mktemp("facewise-log") / "serve.log"
    env = {**os.environ, "FACEWISE_HOME": str(home)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [*facewise_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(url, process, log)
        made = subprocess.run(
            [*facewise_command(), "keys", "create", "--scope", "admin", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        key = json.loads(made.stdout)["key"]
        yield Server(url=url, key=key, home=home, log=log)
    finally:
        stop(process)
