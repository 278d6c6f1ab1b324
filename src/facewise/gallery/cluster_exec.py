"""One executor for facewise's batch jobs, local or on a Ray cluster.

``address`` (``--ray-address``, else ``RAY_ADDRESS``, else the ``ray_address`` setting) joins a
running cluster; without one a local Ray is started (``executor="ray"``) or a process pool used.
Every task declares what it needs (:class:`Resources`: CPUs and memory), so Ray places it on a
node that has them rather than assuming one model per core.

Inputs reach the workers as bytes: Ray Data's ``read_binary_files`` reads them, on the driver's
node for paths of the driver's own disk (the workers need not see it), anywhere for paths on
shared storage or object-store URLs (``s3://...``: every node reads them itself). The per-photo
work (decode, detect, align, embed) runs in the workers; only the driver writes results (the
gallery, the output file, the collection), so a task that dies and is run again by Ray cannot
write twice.

Where the results go: a job on a cluster writes through the driver to a Milvus server gallery.
A local file gallery (SQLite, Milvus Lite) is refused with :class:`ClusterGalleryError` when the
cluster has a node on another host: a job of that size outgrows one machine's file, and a
driver submitted to the cluster may run on any node, where the file is not the one the service
reads. A cluster whose nodes are all on the driver's host may use the local file.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from facewise.errors import ConfigError, FacewiseError
from facewise.location import Location

TASK_MEMORY = 1024 * 1024 * 1024
"""Memory one photo task declares by default, in bytes: one engine (dlib ResNet + HOG, about
0.5 GB resident with the interpreter) and a decoded photo, with room to spare."""


class ClusterGalleryError(ConfigError):
    """A job on a multi-host Ray cluster points at a gallery in a local file."""

    code = "cluster_gallery"
    exit_code = 2
    http_status = 500


class ClusterUnavailable(FacewiseError):
    """Ray could not be started here or the cluster at the address did not answer."""

    code = "cluster_unavailable"
    exit_code = 10
    http_status = 503


@dataclass(frozen=True, slots=True)
class Resources:
    """What one photo task asks the cluster for."""

    num_cpus: float = 1.0
    memory: int = TASK_MEMORY
    """Bytes (Ray's logical ``memory`` resource: a node runs no more tasks than it has)."""


def ray_address(given: str | None, setting: str = "") -> str | None:
    """The cluster to join: ``given``, else ``RAY_ADDRESS``, else the setting; None = local."""
    for value in (given, os.environ.get("RAY_ADDRESS"), setting):
        if value:
            return value
    return None


def check_gallery_target(location: Location, node_ips: Sequence[str], driver_ip: str) -> None:
    """Refuse a local file gallery when a node of the cluster is on another host."""
    if location.kind == "milvus":
        return
    elsewhere = sorted({ip for ip in node_ips if ip != driver_ip})
    if elsewhere:
        raise ClusterGalleryError(
            f"the Ray cluster has nodes on other hosts ({', '.join(elsewhere[:3])}) but the "
            f"gallery is a local {location.kind} file ({location}); point the gallery setting "
            "at a Milvus server (gallery = 'milvus://host:19530') for a cluster run"
        )


_local_ray_started = False
"""Whether this process has started a local Ray (see :func:`connect`)."""


@contextmanager
def connect(address: str | None, workers: int) -> Iterator[Any]:
    """The ``ray`` module, joined to the cluster at ``address`` (a local Ray of ``workers``
    CPUs when None); left as found when this process is already connected."""
    from facewise.extras import require

    ray = require("ray")  # MissingExtra naming pip install 'facewise[ray]' when absent
    if ray.is_initialized():
        yield ray
        return
    global _local_ray_started
    if address and _local_ray_started:
        raise ClusterUnavailable(
            f"this process already ran a local Ray; a job on the cluster at {address} from the "
            "same process waits for ever (Ray 2.60's Ray Data), so it is refused: run it in a "
            "new process (each facewise command is one)"
        )
    _local_ray_started = _local_ray_started or not address
    # ray.init leaves settings in os.environ (RAY_AUTH_MODE=token for a new local Ray): put back
    # after shutdown, so the caller and its later child processes keep their own settings
    ray_environ = {k: v for k, v in os.environ.items() if k.startswith("RAY_")}
    try:
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            ray.init(
                num_cpus=workers,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
    except Exception as exc:  # Ray raises bare Exception, ConnectionError, RuntimeError...
        _stop_half_started(exc)
        ray.shutdown()
        _restore_ray_environ(ray_environ)
        if address:
            hint = f"the Ray cluster at {address} did not answer: {exc} (check the address)"
        else:
            hint = f"a local Ray did not start: {exc} (run again, or use --engine local)"
        raise ClusterUnavailable(f"{hint}; nothing was written") from exc
    try:
        yield ray
    finally:
        ray.shutdown()
        _restore_ray_environ(ray_environ)


def _restore_ray_environ(before: dict[str, str]) -> None:
    if {k: v for k, v in os.environ.items() if k.startswith("RAY_")} == before:
        return
    for key in [k for k in os.environ if k.startswith("RAY_") and k not in before]:
        del os.environ[key]
    os.environ.update(before)
    from ray._raylet import Config  # type: ignore[attr-defined]

    Config.initialize("")  # Ray's process-wide config re-reads the environment (auth mode)


def _stop_half_started(exc: BaseException) -> None:
    """Stop the processes (GCS, raylet) a failed ``ray.init`` started: the node that started
    them never became Ray's global node, so ``ray.shutdown`` does not know them; it is found in
    the failing frames."""
    from ray._private.node import Node

    tb = exc.__traceback__
    while tb is not None:
        node = tb.tb_frame.f_locals.get("self")
        if isinstance(node, Node):
            node.kill_all_processes(check_alive=False, allow_graceful=False, wait=True)
            return
        tb = tb.tb_next


def cluster_target_check(ray: Any, location: Location) -> None:
    """:func:`check_gallery_target` for the cluster ``ray`` is connected to."""
    nodes = [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]]
    check_gallery_target(location, nodes, ray.util.get_node_ip_address())


DEFAULT_RESOURCES = Resources()

PhotoTask = Callable[[dict[str, Any], bytes, str], Any]
"""``fn(settings, data, path)`` on a worker: a picklable result for the driver."""


def _run(fn: PhotoTask, settings: dict[str, Any], data: bytes, path: str) -> dict[str, Any]:
    return {"path": path, "payload": pickle.dumps(fn(settings, data, path))}


def _read_and_run(fn: PhotoTask, settings: dict[str, Any], path: str) -> dict[str, Any]:
    from facewise import io
    from facewise.errors import FacewiseError

    try:
        data = io.read_file(path)
    except FacewiseError as exc:
        return {"path": path, "payload": pickle.dumps(exc)}
    return _run(fn, settings, data, path)


def map_photos(
    fn: PhotoTask,
    paths: Sequence[str],
    settings: dict[str, Any],
    *,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    resources: Resources = DEFAULT_RESOURCES,
    shared_storage: bool = False,
) -> Iterator[tuple[str, Any]]:
    """``(path, fn(settings, bytes of path, path))`` for every path, each exactly once, in any
    order: on a local process pool (``executor="local"``, no address) or on Ray (a local Ray,
    or the cluster at ``address``). The Ray connection must be open (:func:`connect`)."""
    if not paths:
        return
    if executor != "ray" and not address:
        from facewise.gallery.batch import pool_map

        items = [(fn, p) for p in paths]
        for row in pool_map(_pool_task, settings, items, workers):
            yield row["path"], pickle.loads(row["payload"])
        return
    import ray

    # one block per few photos: a task lost with a node costs a few photos' work, and every
    # node gets work; a cluster of N CPUs runs N at a time
    blocks = max(1, min(len(paths), 4 * max(workers, _cluster_cpus(ray))))
    local = [p for p in paths if "://" not in p]
    placement = _on_this_node(ray) if local and not shared_storage else {}
    given = {os.path.abspath(p) if "://" not in p else p: p for p in paths}
    data = ray.data.read_binary_files(
        list(given), include_paths=True, override_num_blocks=blocks, **placement
    )
    mapped = data.map(
        lambda row: _run(fn, settings, row["bytes"], row["path"]),
        num_cpus=resources.num_cpus,
        memory=resources.memory,
    )
    seen: set[str] = set()
    for row in mapped.iter_rows():
        path = _given_path(row["path"], given)
        if path in seen:  # never, by Ray Data's contract; guarded: a result is written once
            continue
        seen.add(path)
        yield path, pickle.loads(row["payload"])


def _on_this_node(ray: Any) -> dict[str, Any]:
    """Read tasks pinned to the driver's node (the files are on its disk): a label selector
    where Ray Data takes one (2.5x), the node-affinity strategy before."""
    import inspect

    here = ray.get_runtime_context().get_node_id()
    if "label_selector" in inspect.signature(ray.data.read_binary_files).parameters:
        return {"label_selector": {"ray.io/node-id": here}}
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"ray_remote_args": {"scheduling_strategy": NodeAffinitySchedulingStrategy(here, False)}}


def _pool_task(settings: dict[str, Any], fn: PhotoTask, path: str) -> dict[str, Any]:
    return _read_and_run(fn, settings, path)


def _given_path(read: str, given: dict[str, str]) -> str:
    """The caller's spelling of a path Ray Data reports (absolute; a URL without its scheme)."""
    if read in given:
        return given[read]
    for full, original in given.items():
        if full.endswith("://" + read) or full.split("://", 1)[-1] == read:
            return original
    return read


def _cluster_cpus(ray: Any) -> int:
    return int(ray.cluster_resources().get("CPU", 1))


__all__ = [
    "DEFAULT_RESOURCES",
    "TASK_MEMORY",
    "ClusterGalleryError",
    "ClusterUnavailable",
    "Resources",
    "check_gallery_target",
    "cluster_target_check",
    "connect",
    "map_photos",
    "ray_address",
]
