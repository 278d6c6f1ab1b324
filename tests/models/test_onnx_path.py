"""Your own ONNX embedding model by path (``onnx:FILE`` + a model card) and ``facewise calibrate``,
end to end on models the tests build: a fixed random projection of the ArcFace crop's pooled
pixels (real, different scores for one person and for two), and dlib's own ResNet graph loaded
by path (then its vectors are the built-in model's, in another space)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from facewise.cli.main import main

pytestmark = [pytest.mark.models, pytest.mark.data]

SIDE, POOL, DIM = 112, 8, 64


def linear_graph(
    *,
    side: int = SIDE,
    dim: int = DIM,
    output_rank: int = 2,
    nhwc: bool = False,
    batch: str | int = "N",
) -> bytes:
    """(N, 3, side, side) -> 8x8 average pool -> flatten -> a fixed random (seed 0) projection
    to ``dim``; ``output_rank=3`` gives (N, 1, dim), which no embedding model gives; ``nhwc``
    takes (N, side, side, 3) and transposes it first; ``batch`` fixes the batch size."""
    from onnx import helper, numpy_helper

    from facewise._onnx import serialised_model

    cells = side // POOL
    w = np.random.default_rng(0).standard_normal((3 * cells * cells, dim)).astype(np.float32)
    nodes = []
    if nhwc:
        nodes.append(helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]))
    nodes += [
        helper.make_node(
            "AveragePool",
            ["xt" if nhwc else "x"],
            ["p"],
            kernel_shape=[POOL, POOL],
            strides=[POOL, POOL],
        ),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "w"], ["emb"]),
    ]
    inits = [numpy_helper.from_array(w, "w")]
    out_shape: list[str | int] = [batch, dim]
    if output_rank == 3:
        inits.append(numpy_helper.from_array(np.array([-1, 1, dim], dtype=np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["emb", "shape"], ["out"]))
        out_shape = [batch, 1, dim]
    return serialised_model(
        nodes,
        inits,
        name="random-projection",
        inputs=[("x", [batch, side, side, 3] if nhwc else [batch, 3, side, side])],
        outputs=[("out" if output_rank == 3 else "emb", out_shape)],
        producer="facewise tests",
        doc="a fixed random projection of pooled pixels",
    )


ARC_CARD = {
    "alignment": "arcface-112",
    "mean": 127.5,
    "std": 127.5,
    "name": "projection",
    "licence": "CC0 (random numbers)",
}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("own model")


@pytest.fixture(scope="module")
def linear(work: Path) -> Path:
    path = work / "projection.onnx"
    path.write_bytes(linear_graph())
    (work / "projection.onnx.json").write_text(json.dumps(ARC_CARD))
    return path


@pytest.fixture(scope="module")
def pairs(work: Path, lfw: Path) -> Path:
    """80 official LFW pairs of fold 1 (40 same, 40 different; 131 images, ~100 people)."""
    with (lfw / "pairs.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["fold"] == "1"]
    chosen = [r for r in rows if r["same_identity"] == "1"][:40]
    chosen += [r for r in rows if r["same_identity"] == "0"][:40]
    path = work / "my pairs.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["path_a", "path_b", "same_identity"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in ("path_a", "path_b", "same_identity")} for r in chosen)
    return path


def cli(*args: str, home: Path, **env: str) -> tuple[int, Any, str]:
    """Run facewise in-process; (exit code, the last JSON line or None, all output)."""
    result = CliRunner().invoke(main, list(args), env={"FACEWISE_HOME": str(home), **env})
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(lines[-1]) if lines else None, result.output


@pytest.fixture(scope="module")
def calibrated(work: Path, linear: Path, pairs: Path, lfw: Path) -> dict[str, Any]:
    home = work / "home"
    code, out, text = cli(
        "calibrate",
        "--model",
        f"onnx:{linear}",
        "--pairs",
        str(pairs),
        "--root",
        str(lfw),
        "--identities",
        "folder",
        "--workers",
        "1",
        "--cache",
        str(work / "cache"),
        "--json",
        home=home,
    )
    assert code == 0, text
    return {"home": home, **out}


def test_embed_gives_the_models_dimension_and_the_files_sha256(
    linear: Path, work: Path, face_photo: Path
) -> None:
    code, out, text = cli(
        "embed", "--json", "--model", f"onnx:{linear}", str(face_photo), home=work
    )
    assert code == 0, text
    space = out["space"]
    assert space["weights_sha256"] == hashlib.sha256(linear.read_bytes()).hexdigest()
    assert (space["dim"], space["model"]) == (DIM, "onnx:projection")
    assert space["alignment"] == "arcface-112 rgb nchw mean=127.5 std=127.5"
    [face] = out["faces"]
    assert face["landmark_scheme"] == "mtcnn5"
    vector = np.array(face["embedding"])
    assert vector.shape == (DIM,) and abs(np.linalg.norm(vector) - 1) < 1e-5


def test_options_in_the_name_stand_for_the_card(linear: Path, work: Path, face_photo: Path) -> None:
    bare = work / "bare.onnx"
    bare.write_bytes(linear.read_bytes())
    spec = f"onnx:{bare}?alignment=arcface-112&mean=127.5&std=127.5&name=projection"
    code, out, text = cli(
        "embed", "--json", "--no-flip", "--model", spec, str(face_photo), home=work
    )
    assert code == 0, text
    code, ref, _ = cli(
        "embed", "--json", "--no-flip", "--model", f"onnx:{linear}", str(face_photo), home=work
    )
    assert out["space"] == ref["space"]  # same bytes, same preprocessing: the same space
    np.testing.assert_allclose(
        out["faces"][0]["embedding"], ref["faces"][0]["embedding"], atol=1e-6
    )
    spec = f"onnx:{bare}?alignment=arcface-112&name=projection"  # no mean/std: another space
    code, other, _ = cli(
        "embed", "--json", "--no-flip", "--model", spec, str(face_photo), home=work
    )
    assert code == 0 and other["space"]["alignment"] != ref["space"]["alignment"]


def test_layouts_colour_orders_and_fixed_batches_feed_the_same_numbers(work: Path) -> None:
    from facewise.embedders.onnx_file import OnnxFileEmbedder

    crops = np.random.default_rng(1).integers(0, 256, (3, SIDE, SIDE, 3), dtype=np.uint8)

    def embedder(name: str, graph: bytes, **card: Any) -> OnnxFileEmbedder:
        path = work / f"{name}.onnx"
        path.write_bytes(graph)
        path.with_name(path.name + ".json").write_text(json.dumps({**ARC_CARD, **card}))
        return OnnxFileEmbedder(f"onnx:{path}")

    plain = embedder("plain", linear_graph())
    ref = plain.vectors(crops)
    assert ref.shape == (3, DIM) and plain.dim == DIM
    nhwc = embedder("nhwc", linear_graph(nhwc=True), layout="nhwc")
    np.testing.assert_allclose(nhwc.vectors(crops), ref, rtol=1e-5, atol=1e-4)
    one = embedder("one-at-a-time", linear_graph(batch=1))  # fed one crop at a time
    np.testing.assert_allclose(one.vectors(crops), ref, rtol=1e-5, atol=1e-4)
    two = embedder("two-at-a-time", linear_graph(batch=2))  # the last batch padded
    np.testing.assert_allclose(two.vectors(crops), ref, rtol=1e-5, atol=1e-4)
    bgr = embedder("bgr", linear_graph(), colour="bgr", mean=[10, 20, 30], std=[1, 2, 4])
    x = bgr.preprocess(crops)
    expected = (crops[..., ::-1].astype(np.float32) - [10, 20, 30]) / [1, 2, 4]
    np.testing.assert_allclose(x, expected.transpose(0, 3, 1, 2), rtol=1e-6)
    assert bgr.space.alignment == "arcface-112 bgr nchw mean=10,20,30 std=1,2,4"


def test_arcface_alignment_puts_the_five_points_on_the_template(face_photo: Path) -> None:
    from facewise import Engine
    from facewise.align.arcface import TEMPLATE_112, ArcfaceAligner, similarity_transform

    angle, scale, shift = 0.3, 1.7, np.array([5.0, -3.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = TEMPLATE_112 @ rot.T + shift
    np.testing.assert_allclose(similarity_transform(TEMPLATE_112, moved)[:, :2], rot, atol=1e-9)

    engine = Engine(detector="mtcnn")
    image = engine.load_image(face_photo)
    [det] = engine.detector.detect(image)
    crop = ArcfaceAligner().align(image, det)
    assert crop.pixels.shape == (112, 112, 3)
    marks = np.c_[det.landmarks, np.ones(5)] @ crop.transform.T
    assert np.abs(marks - TEMPLATE_112).max() < 6  # a real face is near the template, not on it


def test_calibrate_writes_thresholds_that_verify_and_identify_use(
    calibrated: dict[str, Any], linear: Path, lfw: Path
) -> None:
    home = calibrated["home"]
    written = Path(calibrated["written"])
    assert written == home / "thresholds.json" and (written.stat().st_mode & 0o777) == 0o600
    stored = json.loads(written.read_text())["spaces"][calibrated["key"]]
    assert stored["space"] == calibrated["space"]
    # the projection separates people a little: real scores, not a constant
    assert 0.55 < calibrated["accuracy"]["accuracy_pairs"] < 0.95
    fmr = calibrated["fmr"]
    assert fmr["supported"] and fmr["impostor_comparisons"] > 5000
    assert calibrated["accuracy"]["threshold"] < fmr["threshold"] < 1.0
    assert calibrated["identify"]["calibrated"]

    a = lfw / "images/Abel_Pacheco/Abel_Pacheco_0001.jpg"
    b = lfw / "images/Abel_Pacheco/Abel_Pacheco_0004.jpg"
    model = f"onnx:{linear}"
    code, out, text = cli("verify", "--json", "--model", model, str(a), str(b), home=home)
    assert code == 0, text
    assert out["threshold"] == pytest.approx(fmr["threshold"], abs=1e-6)
    assert out["model"] == "onnx:projection" and out["fmr"] is not None
    code, out, _ = cli(
        "verify",
        "--json",
        "--threshold-at",
        "accuracy",
        "--model",
        model,
        str(a),
        str(b),
        home=home,
    )
    assert out["threshold"] == pytest.approx(calibrated["accuracy"]["threshold"], abs=1e-6)
    # flip fusion off is another space: not calibrated, and the error says how to calibrate it
    code, out, _ = cli("verify", "--json", "--no-flip", "--model", model, str(a), str(b), home=home)
    assert code == 6 and "facewise calibrate" in out["error"]["message"]

    env = {"FACEWISE_EMBEDDER": model}
    code, _, text = cli("enroll", "--person", "Abel", str(a), home=home, **env)
    assert code == 0, text
    code, out, text = cli("identify", "--json", str(b), home=home, **env)
    assert code == 0, text
    [face] = out["faces"]
    assert face["candidates"][0]["person"] == "Abel"
    decision = face["decision"]
    assert decision["fpir"] == 0.01 and -1 < decision["threshold"] < 1
    assert decision["accepted"] == (decision["score"] >= decision["threshold"])


def test_models_lists_the_calibrated_user_model(calibrated: dict[str, Any], linear: Path) -> None:
    code, out, text = cli("models", "--json", home=calibrated["home"])
    assert code in (0, 6), text  # 6: an optional bundled model not installed here
    [own] = out["user_models"]
    assert own["model"] == "onnx:projection" and own["file"] == str(linear.resolve())
    assert own["licence"] == "CC0 (random numbers)" and own["identify"] is True
    assert own["training_data"] == "not stated in its card"
    assert "yours to check" in out["user_models_note"]


def test_without_identities_identify_refuses_and_says_why(
    calibrated: dict[str, Any], work: Path, linear: Path, pairs: Path, lfw: Path
) -> None:
    home = work / "home without identities"
    code, out, text = cli(
        "calibrate", "--model", f"onnx:{linear}", "--pairs", str(pairs), "--root", str(lfw),
        "--workers", "1", "--cache", str(work / "cache"), "--json", home=home,
    )  # fmt: skip
    assert code == 0, text
    assert out["fmr"]["impostor_comparisons"] == 40  # only the pairs marked different
    assert not out["fmr"]["supported"] and "1,000" in out["fmr"]["note"]
    assert not out["identify"]["calibrated"]
    env = {"FACEWISE_EMBEDDER": f"onnx:{linear}"}
    face = str(lfw / "images/Abel_Pacheco/Abel_Pacheco_0001.jpg")
    assert cli("enroll", "--person", "Abel", face, home=home, **env)[0] == 0
    code, out, _ = cli("identify", "--json", face, home=home, **env)
    assert code == 6 and "--identities folder" in out["error"]["message"]


def test_dlib_graph_by_path_gives_the_builtin_vectors_in_another_space(
    work: Path, face_photo: Path, same_person: Path
) -> None:
    from facewise import Engine, models
    from facewise.embedders.dlib_onnx import INPUT_NAME, OUTPUT_NAME, converted

    graph = work / "dlib.onnx"
    graph.write_bytes(
        converted(models.path("dlib-resnet"), sha256=models.info("dlib-resnet").sha256)
    )
    card = {"alignment": "dlib-chip", "input_size": 150, "input": INPUT_NAME, "output": OUTPUT_NAME}
    (work / "dlib.onnx.json").write_text(json.dumps(card))
    spec = f"onnx:{graph}"
    own, builtin = Engine(embedder=spec), Engine()
    mine, ref = own.largest_face(face_photo), builtin.largest_face(face_photo)
    assert mine.embedding is not None and ref.embedding is not None
    np.testing.assert_allclose(mine.embedding.vector, ref.embedding.vector, atol=1e-5)
    assert mine.embedding.space.weights_sha256 == hashlib.sha256(graph.read_bytes()).hexdigest()
    assert mine.embedding.space != ref.embedding.space

    home = work / "builtin gallery"
    assert cli("enroll", "--person", "Aaron", str(face_photo), home=home)[0] == 0
    env = {"FACEWISE_EMBEDDER": spec}
    code, out, _ = cli("enroll", "--json", "--person", "Other", str(same_person), home=home, **env)
    assert code == 7
    code, out, _ = cli("identify", "--json", str(same_person), home=home, **env)
    assert code == 7 and out["error"]["code"] == "embedding_space_mismatch"


def _embed(spec: str, photo: Path, home: Path, *extra: str) -> tuple[int, dict[str, str]]:
    code, out, text = cli("embed", "--json", *extra, "--model", spec, str(photo), home=home)
    assert out is not None, text
    return code, out.get("error") or out["faces"][0].get("error") or {}


@pytest.mark.parametrize(
    ("case", "code", "says"),
    [
        ("missing file", 6, "not found"),
        ("no card", 6, "no model card"),
        ("card not JSON", 6, "not readable JSON"),
        ("unknown card key", 6, "unknown key(s) colour_order"),
        ("bad alignment", 6, "'alignment' must be one of"),
        ("arcface with hog", 6, "detector must be one of mtcnn, yunet"),
        ("size disagrees", 6, "the card gives 128 px crops"),
        ("layout disagrees", 6, "layout nhwc puts the 3 colours"),
        ("no such output", 6, "has no output 'fc1' (its outputs: emb)"),
        ("output not (N, D)", 6, "an embedding model gives (N, D)"),
        ("not ONNX", 6, "is not a loadable ONNX model"),
        ("hog boxes for arcface", 2, "needs eye, nose and mouth landmarks"),
    ],
)
def test_bad_models_and_cards_are_clear_errors(
    case: str, code: int, says: str, work: Path, linear: Path, face_photo: Path
) -> None:
    folder = work / case.replace(" ", "-")
    folder.mkdir()
    model = folder / "m.onnx"
    model.write_bytes(linear.read_bytes())
    card: dict[str, Any] | str | None = dict(ARC_CARD)
    extra: tuple[str, ...] = ()
    if case == "missing file":
        model.unlink()
    elif case == "no card":
        card = None
    elif case == "card not JSON":
        card = "{alignment: arcface-112"
    elif case == "unknown card key":
        card = {**ARC_CARD, "colour_order": "rgb"}
    elif case == "bad alignment":
        card = {**ARC_CARD, "alignment": "arcface-96"}
    elif case == "arcface with hog":
        card = {**ARC_CARD, "detector": "hog"}
    elif case == "size disagrees":
        card = {**ARC_CARD, "input_size": 128}
    elif case == "layout disagrees":
        card = {**ARC_CARD, "layout": "nhwc"}
    elif case == "no such output":
        card = {**ARC_CARD, "output": "fc1"}
    elif case == "output not (N, D)":
        model.write_bytes(linear_graph(output_rank=3))
    elif case == "not ONNX":
        model.write_bytes(b"these are not the weights you are looking for" * 10)
    elif case == "hog boxes for arcface":
        extra = ("--detector", "hog")
    if isinstance(card, dict):
        (folder / "m.onnx.json").write_text(json.dumps(card))
    elif isinstance(card, str):
        (folder / "m.onnx.json").write_text(card)
    got, error = _embed(f"onnx:{model}", face_photo, folder, *extra)
    assert (got, error.get("code")) == (code, "model_error" if code == 6 else "invalid_input")
    assert says in error["message"]


def test_calibrate_refuses_bundled_models_and_bad_pairs(
    work: Path, linear: Path, lfw: Path
) -> None:
    code, out, _ = cli(
        "calibrate", "--json", "--model", "dlib-resnet", "--pairs", os.devnull, home=work
    )
    assert code == 2 and "onnx:FILE" in out["error"]["message"]
    bad = work / "bad pairs.csv"
    bad.write_text("a,b\nx.jpg,y.jpg\n")
    code, out, _ = cli(
        "calibrate", "--json", "--model", f"onnx:{linear}", "--pairs", str(bad), home=work
    )
    assert code == 2 and "same_identity" in out["error"]["message"]


def test_the_service_runs_the_model_its_configuration_names(
    calibrated: dict[str, Any],
    linear: Path,
    lfw: Path,
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastapi.testclient import TestClient

    from facewise.server.app import create_app
    from facewise.server.keys import KeyStore
    from facewise.settings import load_settings

    home = work / "service home"
    home.mkdir()
    shutil.copy(calibrated["written"], home / "thresholds.json")
    (home / "config.toml").write_text(f'embedder = "onnx:{linear}"\n')
    with KeyStore(home) as store:
        key = store.create("read", name="reader")[0]
    monkeypatch.setenv("FACEWISE_HOME", str(home))
    settings = load_settings()
    assert settings.embedder == f"onnx:{linear}"
    a = lfw / "images/Abel_Pacheco/Abel_Pacheco_0001.jpg"
    b = lfw / "images/Abel_Pacheco/Abel_Pacheco_0004.jpg"
    with TestClient(create_app(settings)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        upload = [("image", (a.name, a.read_bytes(), "image/jpeg"))]
        embedded = client.post("/v1/embed", files=upload, headers=auth).json()
        assert embedded["space"] == calibrated["space"]
        pair = [
            ("image_a", (a.name, a.read_bytes(), "image/jpeg")),
            ("image_b", (b.name, b.read_bytes(), "image/jpeg")),
        ]
        verified = client.post("/v1/verify", files=pair, headers=auth).json()
        assert verified["threshold"] == pytest.approx(calibrated["fmr"]["threshold"], abs=1e-6)
        assert str(linear.parent) not in json.dumps([embedded, verified])
