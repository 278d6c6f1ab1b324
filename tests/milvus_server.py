"""A real Milvus standalone server for the tests, started from the ``milvus`` PyPI package
(2.3.5; its wheel carries the server binary) in its own virtual environment, ``.milvus-server/``,
which ``make milvus-server`` (a prerequisite of ``make test``) creates. Nothing is downloaded here.

The server runs as a subprocess in a process group of its own, on a free loopback port with a
temporary base directory (configuration, etcd, rocksmq, segment files and logs), once per test
session; it is stopped by its process group at the end of the session, or when the test process
dies (the launcher watches its parent). Where it cannot start (no ``.milvus-server``, a platform
the binary does not run on, a start that fails or times out), the tests that need it skip with
the reason.

Use the ``milvus_server`` fixture (import it into a test module); it yields ``milvus://host:port``.
Each test should use a gallery name of its own (``?gallery=...``) on the shared server.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".milvus-server"
PYTHON = VENV / "bin" / "python"
BINARIES = VENV / "server"  # the server's binaries, unpacked from the wheel once (bin/)
START_TIMEOUT = 180.0  # seconds; ~7-10 s on a quiet 2-core machine

LAUNCHER = r"""
import os, signal, sys, threading, time, urllib.request
from os.path import dirname, join, lexists
import milvus

base, binaries, parent = sys.argv[1], sys.argv[2], int(sys.argv[3])
port, etcd_client, etcd_peer = (int(x) for x in sys.argv[4:7])
milvus._initialize_data_files(binaries)  # a no-op once unpacked (checked by md5)
os.makedirs(join(base, "configs"), exist_ok=True)
if not lexists(join(base, "bin")):  # a restart on the same base keeps its data
    os.symlink(join(binaries, "bin"), join(base, "bin"))
# The embedded etcd's peer port (2380) is not in the package's template: without a config file
# of its own, a second server on the machine fails to start. Give it both of its ports.
etcd = join(base, "configs", "embed-etcd.yaml")
with open(etcd, "w") as fh:
    fh.write(f"name: facewise\ndata-dir: {join(base, 'data', 'etcd.data')}\n"
             f"listen-client-urls: http://127.0.0.1:{etcd_client}\n"
             f"advertise-client-urls: http://127.0.0.1:{etcd_client}\n"
             f"listen-peer-urls: http://127.0.0.1:{etcd_peer}\n"
             f"initial-advertise-peer-urls: http://127.0.0.1:{etcd_peer}\n"
             f"initial-cluster: facewise=http://127.0.0.1:{etcd_peer}\n")
data = join(dirname(milvus.__file__), "data")
with open(join(data, "config.yaml.template")) as fh:
    template = fh.read()
marker = "  use:\n    embed: true"
assert marker in template, "the milvus package's config template changed"
template = template.replace(marker, f"  config:\n    path: {etcd}\n" + marker)
with open(join(base, "configs", "facewise.yaml.template"), "w") as fh:
    fh.write(template)
config = milvus.MilvusServerConfig(template=join(base, "configs", "facewise.yaml.template"),
                                   proxy_port=port, etcd_port=etcd_client)
config.glog_conf_file = join(data, "glog.conf")
server = milvus.MilvusServer(config, wait_for_started=False)
server.set_base_dir(base)


def stop(*_):
    server.stop()
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)


def watch():  # the test process died without stopping us: stop
    while True:
        time.sleep(1)
        if os.getppid() != parent:
            stop()


threading.Thread(target=watch, daemon=True).start()
started = time.monotonic()
server.start()
health = f"http://127.0.0.1:{server.webservice_port}/healthz"
while True:
    code = server.server_proc.poll()
    if code is not None:
        print("EXITED", code, flush=True)
        stop()
    try:
        with urllib.request.urlopen(health, timeout=5) as resp:
            if b"OK" in resp.read():
                break
    except OSError:
        pass
    time.sleep(0.2)
print("READY", server.server_proc.pid, round(time.monotonic() - started, 1), flush=True)
server.wait()
"""


class MilvusServer:
    """One running server: ``url`` (milvus://127.0.0.1:PORT), ``base`` (its directory)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port, etcd_client, etcd_peer = _free_ports(3)
        self.url = f"milvus://127.0.0.1:{self.port}"
        self.started_in = 0.0
        self.server_pid = 0
        log = open(base.with_name(base.name + "-launcher.log"), "w")  # noqa: SIM115
        self.log = Path(log.name)
        self.proc = subprocess.Popen(
            [
                str(PYTHON),
                "-c",
                LAUNCHER,
                str(base),
                str(BINARIES),
                str(os.getpid()),
                str(self.port),
                str(etcd_client),
                str(etcd_peer),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )  # its own process group: stopped as one
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("READY"):
                    _, pid, seconds = line.split()
                    self.server_pid, self.started_in = int(pid), float(seconds)
                    return
                if not line or line.startswith("EXITED"):  # the server or the launcher ended
                    what = line.strip() or "launcher ended"
                    raise RuntimeError(
                        f"the Milvus server exited while starting ({what}): {self._tail()}"
                    )
            elif self.proc.poll() is not None:
                break
        raise RuntimeError(
            f"the Milvus server did not start within {START_TIMEOUT:.0f} s "
            f"(exit status {self.proc.poll()}): {self._tail()}"
        )

    def _tail(self) -> str:
        parts = []
        for path in (self.log, self.base / "logs" / "milvus-stdout.log"):
            if path.exists():
                text = path.read_text(errors="replace").strip()
                if text:
                    parts.append(f"{path.name}: ...{text[-800:]}")
        return " | ".join(parts) or "no output"

    def rss_bytes(self) -> int:
        """The server process's resident memory (Linux /proc), 0 when unknown."""
        try:
            fields = Path(f"/proc/{self.server_pid}/status").read_text().split("\n")
        except OSError:
            return 0
        for line in fields:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        """Stop the launcher and the server by their process group: TERM, then KILL."""
        _signal_group(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=20)
        deadline = time.monotonic() + 10
        while _group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        _signal_group(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
        self.server_pid = 0
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on the loopback now (the kernel's choice)."""
    with contextlib.ExitStack() as stack:
        socks = [
            stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            for _ in range(count)
        ]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def unavailable() -> str | None:
    """Why a server cannot be started here, or None."""
    if not sys.platform.startswith("linux"):
        return f"the milvus wheel's server binary runs on Linux only (this is {sys.platform})"
    if not PYTHON.exists():
        return f"no Milvus server environment at {VENV} (run `make milvus-server`)"
    return None


_server: MilvusServer | None = None
_failure: str | None = None


def start_server(base: Path) -> MilvusServer:
    """The session's server, started on first use under ``base``; raises RuntimeError with the
    reason where it cannot start (and remembers it: it is tried once a session)."""
    global _server, _failure
    if _server is not None:
        return _server
    if _failure is None:
        _failure = unavailable()
    if _failure is not None:
        raise RuntimeError(_failure)
    try:
        _server = MilvusServer(base)
    except (OSError, RuntimeError) as exc:
        _failure = str(exc)
        raise RuntimeError(_failure) from None
    atexit.register(stop_server)
    return _server


def stop_server() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """``milvus://127.0.0.1:PORT`` of a Milvus 2.3.5 standalone server for this session."""
    try:
        server = start_server(tmp_path_factory.mktemp("milvus-server") / "base")
    except RuntimeError as exc:
        pytest.skip(f"no Milvus server: {exc}")
    yield server.url
    stop_server()
