"""The ONNX conversion of dlib's face recognition ResNet gives dlib's own descriptors."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pytest

if TYPE_CHECKING:
    from dlib import face_recognition_model_v1
    from onnxruntime import InferenceSession

dlib = pytest.importorskip("dlib")
frm = pytest.importorskip("face_recognition_models")
ort = pytest.importorskip("onnxruntime")

from facewise.embedders.dlib_onnx import INPUT_NAME, OUTPUT_NAME, convert  # noqa: E402

pytestmark = pytest.mark.models

LFW = Path(__file__).resolve().parents[3] / "shared/datasets/identity/lfw_gray"
N_CHIPS = 6


@pytest.fixture(scope="module")
def dat_path() -> Path:
    path = Path(frm.face_recognition_model_location())
    if not path.is_file():
        pytest.skip(f"dlib face recognition model not found at {path}")
    return path


@pytest.fixture(scope="module")
def session(dat_path: Path) -> InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(convert(dat_path), opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def recognizer(dat_path: Path) -> face_recognition_model_v1:
    return dlib.face_recognition_model_v1(str(dat_path))


@pytest.fixture(scope="module")
def chips() -> list[npt.NDArray[np.uint8]]:
    """Aligned 150x150x3 uint8 RGB chips of the first LFW images with exactly one face."""
    manifest = LFW / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"LFW (grayscale) dataset not found at {LFW}")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    out: list[npt.NDArray[np.uint8]] = []
    with manifest.open(newline="") as f:
        for row in csv.DictReader(f):
            img = dlib.load_rgb_image(str(LFW / row["path"]))
            faces = detector(img, 1)
            if len(faces) != 1:
                continue
            shape = predictor(img, faces[0])
            out.append(dlib.get_face_chip(img, shape, size=150, padding=0.25))
            if len(out) == N_CHIPS:
                break
    assert len(out) == N_CHIPS, "too few LFW images with exactly one detectable face"
    # LFW here is grayscale (R == G == B), which cannot reveal a swapped channel order: add a
    # colour-tinted copy of a real chip (RGB vs BGR differs by ~0.04 on it).
    tint = np.array([1.0, 0.75, 0.45], dtype=np.float32)
    out.append(np.ascontiguousarray(np.rint(out[0] * tint).astype(np.uint8)))
    return out


def _to_nchw(chips: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
    return np.stack([c.transpose(2, 0, 1) for c in chips]).astype(np.float32)


@pytest.mark.data
def test_descriptors_match_dlib(
    session: InferenceSession,
    recognizer: face_recognition_model_v1,
    chips: list[npt.NDArray[np.uint8]],
) -> None:
    expected = np.array([recognizer.compute_face_descriptor(c) for c in chips], dtype=np.float32)
    (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: _to_nchw(chips)})

    assert got.shape == (len(chips), 128)
    assert got.dtype == np.float32
    assert np.abs(got - expected).max() < 1e-4
    cosine = np.sum(got * expected, axis=1) / (
        np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1)
    )
    assert cosine.min() > 0.99999
    # Not normalised, exactly like dlib.
    np.testing.assert_allclose(
        np.linalg.norm(got, axis=1), np.linalg.norm(expected, axis=1), rtol=1e-5
    )


@pytest.mark.data
def test_batch_rows_are_independent(
    session: InferenceSession, chips: list[npt.NDArray[np.uint8]]
) -> None:
    x = _to_nchw(chips)
    (batched,) = session.run([OUTPUT_NAME], {INPUT_NAME: x})
    (single,) = session.run([OUTPUT_NAME], {INPUT_NAME: x[2:3]})
    np.testing.assert_allclose(single[0], batched[2], atol=1e-5)


def test_graph_signature(session: InferenceSession) -> None:
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    assert inp.name == INPUT_NAME
    assert inp.type == "tensor(float)"
    assert inp.shape[1:] == [3, 150, 150]
    assert not isinstance(inp.shape[0], int)  # dynamic batch
    assert out.name == OUTPUT_NAME
    assert out.shape[1:] == [128]


@pytest.mark.parametrize("keep", [0, 7, 200, 0.5, -1])
def test_truncated_file_raises(dat_path: Path, tmp_path: Path, keep: float) -> None:
    data = dat_path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[:cut])
    with pytest.raises(ValueError, match="truncated"):
        convert(truncated)


def test_other_dlib_file_raises() -> None:
    # A real dlib file, but a shape predictor rather than the ResNet.
    with pytest.raises(ValueError):
        convert(frm.pose_predictor_five_point_model_location())


def test_trailing_bytes_raise(dat_path: Path, tmp_path: Path) -> None:
    padded = tmp_path / "padded.dat"
    padded.write_bytes(dat_path.read_bytes() + b"\x01\x02")
    with pytest.raises(ValueError, match="trailing"):
        convert(padded)
