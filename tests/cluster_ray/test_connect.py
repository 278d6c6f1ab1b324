"""A local Ray that fails to start (its raylet never registers, as on an overloaded machine) is a
clear ClusterUnavailable, and the GCS and raylet processes it had started are stopped, not left
running beside the caller. Either way the process's RAY_* environment is as before (ray.init sets
RAY_AUTH_MODE=token for a new local Ray). A later join of another cluster from the same process is
refused with a clear error: a Ray Data job there waited for ever (test_ray_jobs.py after these in
one process, whatever the environment), so make test runs test_ray_jobs.py in a pytest of its
own."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from ray_nodes import children

from facewise.gallery.cluster_exec import ClusterUnavailable, connect

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray")


def test_a_local_ray_that_does_not_start_leaves_no_processes(
    monkeypatch: pytest.MonkeyPatch,
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
    before = children(os.getpid())
    unavailable = pytest.raises(ClusterUnavailable, match=r"local Ray did not start.*nothing")
    with unavailable, connect(None, 1):
        pytest.fail("connect() gave a Ray that did not start")
    deadline = time.monotonic() + 10
    while children(os.getpid()) - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not children(os.getpid()) - before, "ray.init's processes are still running"
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
    refused = pytest.raises(ClusterUnavailable, match="already ran a local Ray")
    with refused, connect("127.0.0.1:1", 1):
        pytest.fail("joined a cluster after a local Ray")
