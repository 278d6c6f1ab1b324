"""The three batch jobs on a real two-node Ray cluster (a head and a worker node started with
``ray start`` as separate processes, :mod:`ray_nodes`), each through its address, against the
local run: enrol a folder tree into a Milvus 2.3.5 server, identify a folder tree into JSON lines
(resumable), embed and cluster a collection (the kNN graph searched in shards on the cluster);
then the worker node's raylet is killed in the middle of an enrolment and the job must still
enrol every photo exactly once. LFW photos, 6 people x 3."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ray_nodes import Cluster, ray_env

from facewise import Engine
from facewise.gallery import Gallery
from facewise.gallery.cluster_exec import Resources
from milvus_server import milvus_server  # noqa: F401  (the session's server, a fixture)
from testdata import read_csv

pytestmark = [pytest.mark.models, pytest.mark.data, pytest.mark.ray]
ray = pytest.importorskip("ray")

People = dict[str, list[Path]]
SMALL = Resources(num_cpus=1, memory=600 * 1024 * 1024)  # what a task asks of a test node


@pytest.fixture(scope="module")
def people(lfw: Path) -> People:
    """6 LFW people with at least 4 photos (3 to enrol, the 4th to identify)."""
    by: dict[str, list[Path]] = {}
    for row in read_csv(lfw / "manifest.csv"):
        by.setdefault(row["identity"], []).append(lfw / row["path"])
    many = sorted(p for p, imgs in by.items() if 4 <= len(imgs) <= 8)
    return {p: sorted(by[p]) for p in many[:6]}


def tree(root: Path, people: People, which: slice) -> Path:
    """``root/<person>/<photo>`` copies (a temporary folder: never the repository)."""
    for name, photos in people.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for p in photos[which]:
            shutil.copy(p, root / name / p.name)
    return root


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The head and the worker node (1 CPU each), and this process joined to them."""
    import os

    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED")}
    os.environ.update({k: ray_env()[k] for k in saved})
    # a short folder of its own: Ray's socket paths under it must stay within AF_UNIX's 107
    # bytes, which pytest's temp folders (longer under pytest-xdist) overrun
    short = Path(tempfile.mkdtemp(prefix="fw-ray-"))
    nodes = Cluster(short)
    try:
        # one Ray job for the module: the workers keep their engines from one test to the next
        ray.init(address=nodes.address, log_to_driver=False, configure_logging=False)
        deadline = time.monotonic() + 60
        while sum(n["Alive"] for n in ray.nodes()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sum(n["Alive"] for n in ray.nodes()) == 2
        yield nodes
    finally:
        ray.shutdown()
        nodes.stop()
        shutil.rmtree(short, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def samples(g: Gallery) -> dict[str, set[tuple[str, float]]]:
    return {
        p.name: {(s.image_sha256, round(s.quality, 3)) for s in g.samples_of(p.name)}
        for p in g.people()
    }


@pytest.fixture(scope="module")
def local_gallery(
    tmp_path_factory: pytest.TempPathFactory, engine: Engine, people: People
) -> Iterator[Gallery]:
    """The local run: 6 people x 3 photos enrolled in this process into SQLite."""
    from facewise.gallery.batch import enrol_folder

    root = tmp_path_factory.mktemp("local")
    g = Gallery(root / "home", engine)
    done = enrol_folder(
        g, tree(root / "people", people, slice(0, 3)), consent="c", expires_at=None,
        workers=1, progress=False,
    )  # fmt: skip
    assert done["enrolled"] == 18 and done["failed"] == 0
    yield g
    g.close()


def test_enrol_through_the_address_matches_the_local_run(
    cluster: Cluster,
    milvus_server: str,  # noqa: F811
    engine: Engine,
    local_gallery: Gallery,
    people: People,
    tmp_path: Path,
) -> None:
    from facewise.gallery.batch import enrol_folder

    folder = tree(tmp_path / "people", people, slice(0, 3))
    g = Gallery(f"{milvus_server}?gallery=ray_enrol", engine)
    try:
        first = enrol_folder(
            g, folder, consent="c", expires_at=None, address=cluster.address,
            resources=SMALL, progress=False,
        )  # fmt: skip
        assert first["executor"] == "ray" and first["ray_address"] == cluster.address
        assert first["enrolled"] == 18 and first["failed"] == 0
        assert samples(g) == samples(local_gallery)
        again = enrol_folder(
            g, folder, consent="c", expires_at=None, address=cluster.address, progress=False
        )
        assert again["enrolled"] == 0 and again["skipped"] == 18
    finally:
        g.close()


def decisions(lines: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    return {
        Path(row["path"]).name: [
            (f["decision"]["person"], f["decision"]["accepted"], round(f["decision"]["score"], 4))
            for f in row["faces"]
        ]
        for row in lines
    }


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_identify_a_tree_through_the_address_matches_and_resumes(
    cluster: Cluster, local_gallery: Gallery, people: People, tmp_path: Path
) -> None:
    """The SQLite gallery is allowed here: every node of this cluster is on this host."""
    from facewise.gallery.batch import expand_images
    from facewise.gallery.cluster_jobs import identify_tree

    probes = expand_images([str(tree(tmp_path / "probes", people, slice(3, 4)))])
    here, there = tmp_path / "local.jsonl", tmp_path / "cluster.jsonl"
    local = identify_tree(local_gallery, probes, here, actor="test")
    on_cluster = identify_tree(
        local_gallery, probes, there, actor="test", address=cluster.address,
        resources=SMALL,
    )  # fmt: skip
    assert local["identified"] == on_cluster["identified"] == 6
    answers = decisions(read_lines(there))
    assert answers == decisions(read_lines(here))
    right = sum(
        faces[0][0] == name and faces[0][1]
        for name, photos in people.items()
        for file, faces in answers.items()
        if file == photos[3].name
    )
    assert right >= 5  # the real model names (nearly) everyone
    # interrupted: the last line lost and the one before it torn; the rerun does only those
    kept = there.read_text().splitlines()
    there.write_text("\n".join(kept[:4]) + "\n" + kept[4][:30])
    resumed = identify_tree(
        local_gallery, probes, there, actor="test", address=cluster.address,
        resources=SMALL,
    )  # fmt: skip
    assert resumed["skipped"] == 4 and resumed["identified"] == 2
    rows = [r for r in _parsable(there)]
    assert sorted(r["sha256"] for r in rows) == sorted({r["sha256"] for r in rows})
    assert decisions(rows) == answers


def _parsable(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def test_the_cli_runs_enrol_and_identify_through_ray_address(
    cluster: Cluster,
    local_gallery: Gallery,
    people: People,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``facewise enroll-dir --ray-address`` and ``facewise identify --output --ray-address``
    (SQLite galleries: this cluster is on one host): the same as the library's local run."""
    from click.testing import CliRunner

    from facewise.cli.main import main

    monkeypatch.setenv("FACEWISE_GALLERY", str(tmp_path / "cli-home"))
    folder = tree(tmp_path / "people", people, slice(0, 3))
    run = CliRunner().invoke(
        main, ["enroll-dir", str(folder), "--ray-address", cluster.address, "--json", "-q"]
    )
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output)
    assert summary["enrolled"] == 18 and summary["ray_address"] == cluster.address
    with Gallery(tmp_path / "cli-home", local_gallery.engine) as enrolled:
        assert samples(enrolled) == samples(local_gallery)
    assert local_gallery.location.path is not None
    monkeypatch.setenv("FACEWISE_GALLERY", str(local_gallery.location.path.parent))
    probes = tree(tmp_path / "probes", people, slice(3, 4))
    out = tmp_path / "answers.jsonl"
    args = ["identify", str(probes), "--output", str(out), "--ray-address", cluster.address]
    run = CliRunner().invoke(main, [*args, "--json", "-q"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["identified"] == 6
    from facewise.gallery.cluster_jobs import identify_tree

    here = tmp_path / "local.jsonl"
    identify_tree(local_gallery, [str(p) for p in sorted(probes.rglob("*.jpg"))], here, actor="t")
    assert decisions(read_lines(out)) == decisions(read_lines(here))
    run = CliRunner().invoke(main, [*args, "--json", "-q"])  # resumed: nothing left to do
    assert json.loads(run.output)["skipped"] == 6 and len(read_lines(out)) == 6


def test_a_cluster_run_refuses_a_local_gallery_when_nodes_are_elsewhere(tmp_path: Path) -> None:
    from facewise.gallery.cluster_exec import ClusterGalleryError, check_gallery_target
    from facewise.location import parse_location

    sqlite = parse_location("", home=tmp_path)
    check_gallery_target(sqlite, ["10.0.0.5", "10.0.0.5"], "10.0.0.5")  # one host: allowed
    with pytest.raises(ClusterGalleryError, match="Milvus server") as err:
        check_gallery_target(sqlite, ["10.0.0.5", "10.0.0.6"], "10.0.0.5")
    assert err.value.exit_code == 2
    lite = parse_location(f"milvus-lite:///{tmp_path}/g.db")
    with pytest.raises(ClusterGalleryError):
        check_gallery_target(lite, ["10.0.0.5", "10.0.0.6"], "10.0.0.5")
    check_gallery_target(parse_location("milvus://db:19530"), ["10.0.0.5", "10.0.0.6"], "x")


def partition(coll: Any) -> set[frozenset[str]]:
    """The clusters as sets of photo file names."""
    rows = coll.records.rows(
        "SELECT f.cluster_id, p.path FROM faces f JOIN photos p ON p.id = f.photo_id"
    )
    by: dict[Any, set[str]] = {}
    for cluster_id, path in rows:
        by.setdefault(cluster_id if cluster_id is not None else path, set()).add(Path(path).name)
    return {frozenset(v) for v in by.values()}


def test_cluster_a_collection_through_the_address_matches_the_local_run(
    cluster: Cluster, engine: Engine, people: People, tmp_path: Path
) -> None:
    from facewise.cluster.collection import Collection
    from facewise.cluster.distributed import add_tree, sharded_knn
    from facewise.cluster.knn import knn
    from facewise.gallery.batch import expand_images

    photos = expand_images([str(tree(tmp_path / "photos", people, slice(0, 4)))])
    with Collection(tmp_path / "local", engine) as here:
        here.add_paths(photos)
        expected = partition(here)
        vectors = here.records.vectors(engine.space.dim)[1]
    with Collection(tmp_path / "cluster", engine) as there:
        report = add_tree(
            there, photos, address=cluster.address, resources=SMALL,
            shard_rows=7,  # 24 faces: 4 shards searched as Ray tasks, merged
        )  # fmt: skip
        assert report.photos_added == 24 and not report.errors
        assert partition(there) == expected
        assert len(expected) >= 5  # six people: the clustering is not trivial
        again = add_tree(there, photos, address=cluster.address)
        assert again.photos_added == 0 and again.photos_known == 24
    idx, sim = sharded_knn(vectors, 5, shard_rows=7)
    want_idx, want_sim = knn(vectors, 5)
    assert np.allclose(sim, want_sim, atol=1e-5)
    assert (idx == want_idx).mean() > 0.98  # equal but for float ties
    assert not (idx == np.arange(len(vectors))[:, None]).any()


def test_a_worker_node_killed_mid_job_costs_time_not_samples(
    cluster: Cluster,
    milvus_server: str,  # noqa: F811
    engine: Engine,
    local_gallery: Gallery,
    people: People,
    tmp_path: Path,
) -> None:
    """Last in the module: the worker node does not come back."""
    from facewise.gallery.batch import enrol_folder

    folder = tree(tmp_path / "people", people, slice(0, 3))
    g = Gallery(f"{milvus_server}?gallery=ray_killed", engine)
    out: dict[str, Any] = {}

    def job() -> None:
        try:
            out["summary"] = enrol_folder(
                g, folder, consent="c", expires_at=None, address=cluster.address,
                resources=SMALL, progress=False,
            )  # fmt: skip
        except BaseException as exc:  # reported by the assertion below
            out["error"] = exc

    worker = threading.Thread(target=job)
    worker.start()
    try:
        busy = _wait_for_a_task_on(cluster, deadline=time.monotonic() + 60)
        assert busy, "no task ever ran on the worker node"
        cluster.worker.kill_raylet()
    finally:
        worker.join(timeout=240)
    assert not worker.is_alive(), "the job did not finish after the node was killed"
    try:
        assert "error" not in out, out.get("error")
        summary = out["summary"]
        assert summary["failed"] == 0 and summary["enrolled"] == 18
        got = samples(g)
        assert got == samples(local_gallery)  # nothing lost
        assert sum(len(v) for v in got.values()) == sum(p.samples for p in g.people()) == 18
        assert sum(n["Alive"] for n in ray.nodes()) == 1  # it really was gone
    finally:
        g.close()


def _wait_for_a_task_on(cluster: Cluster, deadline: float) -> bool:
    """Until a process of the worker node runs one of the job's map tasks."""
    from ray_nodes import _cmdline

    while time.monotonic() < deadline:
        for pid in cluster.worker.workers():
            if "Map(" in _cmdline(pid):
                return True
        time.sleep(0.05)
    return False
