"""The facewise CLI on real photos and on bad input: every input gets an answer or a clear error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from facewise.cli.main import main

pytestmark = [pytest.mark.models, pytest.mark.data]


@pytest.fixture(scope="module")
def inputs(
    tmp_path_factory: pytest.TempPathFactory,
    face_photo: Path,
    group_photo: Path,
    no_face_photo: Path,
) -> dict[str, str]:
    from PIL import Image

    folder = tmp_path_factory.mktemp("cli inputs")
    data = face_photo.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "notes.txt").write_text("this is not an image\n")
    rotated = folder / "rotated ünïcode.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(face_photo).convert("RGB").rotate(90, expand=True).save(rotated, exif=exif)
    shutil.copy(face_photo, folder / "face.jpg")
    return {
        "face": str(folder / "face.jpg"),
        "group": str(group_photo),
        "no_face": str(no_face_photo),
        "truncated": str(folder / "truncated.jpg"),
        "text": str(folder / "notes.txt"),
        "rotated": str(rotated),
        "missing": str(folder / "does-not-exist.jpg"),
        "url": "https://example.com/face.jpg",
    }


def run(*args: str) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(main, list(args))
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, lines


def test_embed_json_one_line_per_input_and_bad_inputs_do_not_stop_the_rest(inputs) -> None:  # type: ignore[no-untyped-def]
    order = ["face", "truncated", "group", "text", "no_face", "rotated", "missing", "url"]
    code, lines = run("embed", "--json", *[inputs[k] for k in order])
    assert [line["path"] for line in lines] == [inputs[k] for k in order]  # echoed exactly
    by = dict(zip(order, lines, strict=True))
    assert len(by["face"]["faces"]) == 1 and len(by["face"]["faces"][0]["embedding"]) == 128
    face = by["face"]["faces"][0]
    assert len(face["bbox"]) == 4 and len(face["landmarks"]) == 5 and face["score"] > 0
    assert by["face"]["space"]["model"] == "dlib-resnet" and by["face"]["space"]["dim"] == 128
    assert len(by["group"]["faces"]) >= 5
    assert by["no_face"]["faces"] == []
    assert len(by["rotated"]["faces"]) == 1
    assert by["truncated"]["error"]["code"] == "image_decode_error"
    assert by["text"]["error"]["code"] == "image_decode_error"
    assert by["missing"]["error"]["code"] == "invalid_input"
    assert "never fetches" in by["url"]["error"]["message"]
    assert code == 3  # the first failing input's exit code (undecodable image)


def test_embed_largest_keeps_one_face(inputs) -> None:  # type: ignore[no-untyped-def]
    code, [line] = run("embed", "--json", "--largest", inputs["group"])
    assert code == 0 and len(line["faces"]) == 1


def test_detect_json_and_draw(inputs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "drawn.png"
    code, [line] = run("detect", "--json", "--draw", str(out), inputs["group"])
    assert code == 0 and len(line["faces"]) >= 5 and out.is_file()
    code, lines = run("detect", "--json", "--detector", "mtcnn", inputs["face"], inputs["no_face"])
    assert code == 0 and len(lines[0]["faces"]) == 1 and lines[1]["faces"] == []
    assert lines[0]["faces"][0]["landmark_scheme"] == "mtcnn5"


def test_detect_unknown_detector_is_a_usage_error(inputs: dict[str, str]) -> None:
    code, [line] = run("detect", "--json", "--detector", "yolo", inputs["face"])
    assert code == 2 and line["error"]["code"] == "unknown_name"


def test_verify_exit_zero_for_match_and_mismatch(
    inputs: dict[str, str],
    same_person: Path,
    other_person: Path,
) -> None:
    code, [same] = run("verify", "--json", inputs["face"], str(same_person))
    assert code == 0 and same["verified"] is True
    assert {"verified", "score", "threshold", "model", "operating_point"} <= same.keys()
    code, [other] = run(
        "verify", "--json", "--threshold-at", "accuracy", inputs["face"], str(other_person)
    )
    assert code == 0 and other["verified"] is False and other["operating_point"] == "accuracy"
    assert other["threshold"] < same["threshold"]  # the accuracy point is the more lenient one


@pytest.mark.parametrize(
    ("bad", "code", "error"),
    [
        ("truncated", 3, "image_decode_error"),
        ("text", 3, "image_decode_error"),
        ("no_face", 5, "no_face"),
        ("missing", 2, "invalid_input"),
    ],
)
def test_verify_unusable_input_is_a_json_error(inputs, bad: str, code: int, error: str) -> None:  # type: ignore[no-untyped-def]
    got, [line] = run("verify", "--json", inputs["face"], inputs[bad])
    assert got == code and line["error"]["code"] == error and line["error"]["message"]


def test_models_lists_every_weight_file_checked() -> None:
    code, [line] = run("models", "--json")
    assert code == 0
    names = {m["name"] for m in line["models"]}
    assert {"dlib-resnet", "dlib-5pt", "dlib-68pt", "dlib-mmod", "facenet"} <= names
    for m in line["models"]:
        assert m["checksum"] == "ok" and len(m["sha256"]) == 64 and m["licence"] and m["bytes"] > 0


def test_installed_entry_point_runs_in_a_fresh_process(inputs) -> None:  # type: ignore[no-untyped-def]
    exe = Path(sys.executable).with_name("facewise")
    if not exe.is_file():
        pytest.skip("facewise is not installed as a script in this environment")
    out = subprocess.run(
        [str(exe), "verify", inputs["face"], inputs["face"]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0 and "same person" in out.stdout, out.stderr
    bad = subprocess.run(
        [str(exe), "embed", inputs["text"]], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 3 and "Traceback" not in bad.stderr and "error" in bad.stderr


def test_analyze_json_on_real_photos(inputs, lfw: Path) -> None:  # type: ignore[no-untyped-def]
    fer = lfw.parents[1] / "expression/fer2013_privatetest/images/happy"
    crop = str(next(iter(sorted(fer.iterdir()))))
    code, lines = run(
        "analyze",
        "--json",
        inputs["face"],
        inputs["group"],
        inputs["no_face"],
        crop,
        inputs["text"],
    )
    face, group, no_face, fer_crop, text = lines
    assert code == 3 and text["error"]["code"] == "image_decode_error"
    [f] = face["faces"]
    assert {
        "bbox",
        "age",
        "gender",
        "gender_confidence",
        "expression",
        "expression_scores",
        "pose",
        "quality",
    } <= f.keys()
    assert f["gender"] in ("male", "female") and 0 <= f["gender_confidence"] <= 1
    assert f["detected"] is True and 0 <= f["quality"] <= 1
    assert {"yaw", "pitch", "roll"} == set(f["pose"])
    assert len(group["faces"]) >= 5 and no_face["faces"] == []
    assert len(fer_crop["faces"]) == 1  # a 48 px crop: found by a detector or taken whole
    code, [aligned] = run("analyze", "--json", "--aligned", crop)
    [c] = aligned["faces"]
    assert c["detected"] is False and c["bbox"] == [0, 0, 48, 48]
    assert c["expression"] in (
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
        "uncertain",
    )
    code, [one] = run("analyze", "--json", "--largest", "--what", "age,landmarks", inputs["group"])
    assert len(one["faces"]) == 1 and len(one["faces"][0]["landmarks68"]) == 68
    assert "expression" not in one["faces"][0]
    code, [bad] = run("analyze", "--json", "--what", "aura", inputs["face"])
    assert code == 2 and "aura" in bad["error"]["message"]
