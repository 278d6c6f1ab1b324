"""``facewise liveness``, ``verify --liveness``, ``enroll --liveness`` on real NUAA frames, and a
user's own ONNX PAD model built here with onnx.helper."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from facewise.cli.main import main
from facewise.engine import Engine
from facewise.liveness.model import OnnxOptions, OnnxPadModel

pytestmark = [pytest.mark.models, pytest.mark.data]


def test_liveness_json_one_line_per_image(
    sequences: dict[tuple[str, str], list[Path]], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    live, attack = sequences[("live", "0015")][0], sequences[("spoof", "0016")][0]
    out = CliRunner().invoke(main, ["liveness", str(live), str(attack), str(bad), "--json"])
    assert out.exit_code == 3  # the first failed input's code, the others still answered
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert [line["path"] for line in lines] == [str(live), str(attack), str(bad)]
    (a,), (b,) = lines[0]["faces"], lines[1]["faces"]
    assert list(a) == ["bbox", "live", "score", "threshold"]
    assert a["live"] is True and b["live"] is False
    assert lines[2]["error"]["code"] == "image_decode_error"


def test_verify_with_liveness_adds_a_field_per_face(
    sequences: dict[tuple[str, str], list[Path]],
) -> None:
    live, attack = sequences[("live", "0015")][0], sequences[("spoof", "0015")][0]
    out = CliRunner().invoke(main, ["verify", str(live), str(attack), "--liveness", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["face_a"]["liveness"]["live"] is True
    assert data["face_b"]["liveness"]["live"] is False


def test_enroll_with_liveness_refuses_a_photo(
    sequences: dict[tuple[str, str], list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEWISE_HOME", str(tmp_path))
    attack = sequences[("spoof", "0015")][0]
    runner = CliRunner()
    out = runner.invoke(main, ["enroll", "--person", "p15", str(attack), "--liveness", "--json"])
    assert out.exit_code == 11, out.output
    data = json.loads(out.output)
    assert data["enrolled"] == 0 and data["skipped"][0]["code"] == "presentation_attack"
    live = sequences[("live", "0015")][0]
    out = runner.invoke(main, ["enroll", "--person", "p15", str(live), "--liveness", "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["enrolled"] == 1


def tiny_onnx(path: Path, two_class: bool) -> None:
    """live logit = 4 * (mean of the NCHW input - 0.5); two classes: [-logit, logit]."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0, axes=[1, 2, 3]),
        helper.make_node("Sub", ["m", "half"], ["c"]),
        helper.make_node("Mul", ["c", "four"], ["z"]),
        helper.make_node("Unsqueeze", ["z", "one"], ["z1"]),
    ]
    out_name, width = "z1", 1
    if two_class:
        nodes += [
            helper.make_node("Neg", ["z1"], ["n1"]),
            helper.make_node("Concat", ["n1", "z1"], ["logits"], axis=1),
        ]
        out_name, width = "logits", 2
    graph = helper.make_graph(
        nodes,
        "tiny_pad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 16, 16])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["n", width])],
        [
            helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
            helper.make_tensor("four", TensorProto.FLOAT, [], [4.0]),
            helper.make_tensor("one", TensorProto.INT64, [1], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.mark.parametrize("two_class", [False, True])
def test_a_users_onnx_model_runs_like_the_bundled_one(
    two_class: bool,
    tmp_path: Path,
    sequences: dict[tuple[str, str], list[Path]],
    pad_engine: Engine,
) -> None:
    from facewise.liveness.features import FeatureConfig, crop

    path = tmp_path / "pad.onnx"
    tiny_onnx(path, two_class)
    options = OnnxOptions(size=16, scale01=True, channels="rgb", threshold=0.4)
    model = OnnxPadModel(path, options)
    image = pad_engine.load_image(str(sequences[("live", "0015")][0]))
    found = pad_engine.detector.detect(image)
    (result,) = pad_engine.liveness(image, largest=True, model=model)
    patch = crop(image, found[0].bbox, FeatureConfig(size=16, margin=options.margin))
    expect = 1 / (1 + np.exp(-4 * (patch.astype(np.float64).mean() / 255 - 0.5) * (1 + two_class)))
    assert result.score == pytest.approx(expect, abs=1e-5)
    assert result.threshold == 0.4 and result.live is bool(expect >= 0.4)
    out = CliRunner().invoke(
        main,
        ["liveness", str(sequences[("live", "0015")][0]), "--json", "--pad-model", str(path),
         "--pad-size", "16", "--pad-scale01", "--pad-channels", "rgb", "--pad-threshold", "0.4"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["faces"][0]["score"] == pytest.approx(expect, abs=1e-4)


def test_analyze_what_liveness_is_the_liveness_verdict(
    sequences: dict[tuple[str, str], list[Path]],
) -> None:
    from facewise.engine import DEFAULT_ANALYSIS

    assert "liveness" not in DEFAULT_ANALYSIS  # on request only: trained on NUAA print attacks
    frames = [str(sequences[("live", "0015")][3]), str(sequences[("spoof", "0016")][3])]
    runner = CliRunner()
    for path in frames:
        analysed = runner.invoke(main, ["analyze", path, "--what", "liveness", "--json"])
        judged = runner.invoke(main, ["liveness", path, "--json"])
        assert analysed.exit_code == judged.exit_code == 0, analysed.output
        (face,) = json.loads(analysed.output)["faces"]
        (verdict,) = json.loads(judged.output)["faces"]
        assert face["bbox"] == verdict["bbox"]
        assert face["liveness"] == {k: v for k, v in verdict.items() if k != "bbox"}
    assert [json.loads(runner.invoke(main, ["liveness", p, "--json"]).output)["faces"][0]["live"]
            for p in frames] == [True, False]  # fmt: skip
