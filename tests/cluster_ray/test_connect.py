"""A local Ray that fails to start (its raylet never registers, as on an overloaded machine) is a
clear ClusterUnavailable, and the GCS and raylet processes it had started are stopped, not left
running beside the caller. Either way the process's environment is as before: ray.init sets
RAY_AUTH_MODE=token for a new local Ray, and a later join of a cluster without token auth in the
same process then hung. That join is still refused, with a clear error: a Ray Data job on another
cluster from a process that ran a local Ray waits for ever (seen with test_ray_jobs.py after these
in one process, whatever the environment), so make test runs test_ray_jobs.py in a pytest of its
own."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from facewise.gallery.cluster_exec import ClusterUnavailable, connect

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray")


def _children() -> set[int]:
    """Live (not zombie) processes whose parent is this one, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == os.getpid() and state != "Z":
            found.add(int(entry.name))
    return found


def test_a_local_ray_that_does_not_start_leaves_no_processes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ray._private.node import Node

    started = Node.start_ray_processes

    def raylet_never_registers(self: Any) -> None:
        started(self)  # the GCS and the raylet are running now
        raise Exception("The current node timed out during startup.")

    monkeypatch.setattr(Node, "start_ray_processes", raylet_never_registers)
    monkeypatch.setenv("RAY_TMPDIR", "/tmp")
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    environ = _ray_environ()
    before = _children()
    unavailable = pytest.raises(ClusterUnavailable, match=r"local Ray did not start.*nothing")
    with unavailable, connect(None, 1):
        pytest.fail("connect() gave a Ray that did not start")
    deadline = time.monotonic() + 10
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _children() - before, "ray.init's processes are still running"
    assert not ray.is_initialized()
    assert _ray_environ() == environ


def _ray_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("RAY_")}


def test_a_local_ray_leaves_the_environment_as_it_found_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_TMPDIR", "/tmp")
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    environ = _ray_environ()
    with connect(None, 1) as joined:
        assert joined.cluster_resources()["CPU"] == 1
    assert _ray_environ() == environ


def test_joining_a_cluster_after_a_local_ray_is_refused_not_hung(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAY_TMPDIR", "/tmp")
    with connect(None, 1):
        pass
    with pytest.raises(ClusterUnavailable, match="already ran a local Ray"):  # noqa: SIM117
        with connect("127.0.0.1:1", 1):
            pytest.fail("joined a cluster after a local Ray")
