"""A real two-node Ray cluster on this machine for the tests and the benchmark: a head and a
worker node started with ``ray start`` as separate processes, every port chosen free, a private
``--temp-dir``, token authentication off (``RAY_AUTH_MODE=disabled``: a loopback test cluster).

Processes are stopped by the process ids this module started (``ray stop`` would stop every Ray
of the user on the machine, other people's included)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE = 80 * 1024 * 1024  # bytes per node: the photos of a test are a few MB


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [
            stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            for _ in range(count)
        ]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def ray_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    # a killed node is declared dead after ~1.5 s, not Ray's default ~30 s (GCS health checks)
    env.update(
        RAY_health_check_period_ms="500",
        RAY_health_check_timeout_ms="500",
        RAY_health_check_failure_threshold="3",
    )
    return env


def _processes(pgid: int, parent: int) -> set[int]:
    """The live processes of process group ``pgid`` (a ``ray start`` of ours and what it left)
    and the children of ``parent`` (the raylet's workers: each puts itself in a group of its
    own)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if stat[0] != "Z" and (int(stat[2]) == pgid or (parent and int(stat[1]) == parent)):
            found.add(int(entry.name))
    return found


def children(parent: int) -> set[int]:
    """The live (not zombie) processes whose parent is ``parent``."""
    return _processes(-1, parent)


class Node:
    """One ``ray start`` node: ``raylet_pid`` and every process it left running."""

    def __init__(self, temp: Path, args: list[str], cpus: int, workers_from: int) -> None:
        ports = free_ports(7)
        cmd = [
            str(RAY),
            "start",
            *args,
            f"--num-cpus={cpus}",
            "--node-ip-address=127.0.0.1",
            f"--object-store-memory={OBJECT_STORE}",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
            f"--object-manager-port={ports[0]}",
            f"--node-manager-port={ports[1]}",
            f"--ray-client-server-port={ports[2]}",
            f"--dashboard-agent-listen-port={ports[3]}",
            f"--dashboard-agent-grpc-port={ports[4]}",
            f"--runtime-env-agent-port={ports[5]}",
            f"--metrics-export-port={ports[6]}",
            f"--min-worker-port={workers_from}",
            f"--max-worker-port={workers_from + 199}",
        ]
        # a session of its own: every process it starts (GCS, raylet, workers) is in its group
        proc = subprocess.Popen(
            cmd,
            env=ray_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.pgid = proc.pid
        self.raylet_pid = 0
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start failed: {out[-1500:]}")
        self.raylet_pid = next(
            (p for p in self.alive() if _cmdline(p).split(" ")[0].endswith("/raylet")), 0
        )
        if not self.raylet_pid:
            self.stop()
            raise RuntimeError(f"ray start left no raylet: {out[-1500:]}")

    def kill_raylet(self) -> None:
        """SIGKILL this node's raylet (a machine that vanished): its workers die with it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.raylet_pid, signal.SIGKILL)

    def alive(self) -> set[int]:
        """This node's live processes: its services and the raylet's workers."""
        return _processes(self.pgid, self.raylet_pid)

    def workers(self) -> set[int]:
        """The raylet's worker processes (``ray::IDLE``, ``ray::Map(...)``, ...)."""
        return children(self.raylet_pid) if self.raylet_pid else set()

    def stop(self) -> None:
        """TERM, then KILL, this node's process group and its workers (ours alone)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            workers = self.workers()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)
            for pid in workers:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.1)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Cluster:
    """A head (1 CPU) and a worker node (1 CPU) on the loopback; ``address`` is the head's."""

    def __init__(self, temp: Path, cpus: int = 1, workers: int = 1) -> None:
        temp.mkdir(parents=True, exist_ok=True)
        port, dashboard = free_ports(2)
        self.address = f"127.0.0.1:{port}"
        self.nodes: list[Node] = []
        # worker ports, 200 a node: below the kernel's ephemeral range (where free_ports' come
        # from) and above Ray's default 10002-19999 (another cluster on the machine)
        base = 20000 + random.randrange(0, 12000 - 200 * (workers + 1), 200)
        try:
            head = ["--head", f"--port={port}", "--include-dashboard=false"]
            self.head = Node(temp, [*head, f"--dashboard-port={dashboard}"], cpus, base)
            self.nodes.append(self.head)
            for i in range(workers):
                worker = Node(temp, [f"--address={self.address}"], cpus, base + 200 * (i + 1))
                self.nodes.append(worker)
        except BaseException:
            self.stop()
            raise
        self.worker = self.nodes[-1]

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
