"""Head pose (yaw, pitch, roll in degrees) from dlib's 68 landmarks and a generic 3D face.

Method: dlib's 68-point shape predictor in the face box, then ``cv2.solvePnP`` (iterative, all
68 points) against :data:`MEAN_SHAPE`, with a pinhole camera whose focal length is the image's
longer side and whose centre is the image centre (no distortion). Angles are those of the head
relative to the camera's axes, not to the line of sight, so a frontal face far off-centre in a
wide photo reads a few degrees of yaw.

Conventions (degrees; 0, 0, 0 = looking straight into the camera, head upright):

* **yaw** > 0: the subject turns to *their own left*, so the nose points towards the image's
  right. A mirrored image flips its sign.
* **pitch** > 0: the subject looks *up* (nose towards the image's top). Mirroring keeps it.
* **roll** > 0: the head tilts towards the subject's left shoulder, i.e. the line through the
  eyes turns clockwise as seen in the image (the eye on the image's right is lower). Mirroring
  flips its sign.

Formally, with camera axes x right, y down, z forward and the model's axes the same at pose 0,
the rotation from model to camera is ``R = Ry(-yaw) @ Rx(-pitch) @ Rz(roll)``.

The 3D model is our own, measured from data rather than copied: :func:`fit_mean_shape` ran
Tomasi-Kanade factorisation (scaled orthographic cameras, metric upgrade) over the 68 landmarks of
1,168 LFW faces that no LFW verification pair uses; the cameras come from the 51 inner points
(the jaw contour slides with yaw and is not a fixed 3D point), then every point is triangulated,
the shape is made exactly left-right symmetric, scaled to 90 mm between the outer eye corners
(units are roughly millimetres) and turned about x so that the median pitch of those faces is 0.
Its nose tip stands ~45 mm in front of the outer eye corners, as in published mean face shapes.
Symmetry makes the mirror rule above exact up to the landmark detector's own asymmetry.

The landmarks come from the 68-point predictor trained on iBUG 300-W: non-commercial use only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput
from facewise.landmarks import DlibLandmarks
from facewise.types import Detection, Image

MIRROR_PAIRS = (
    (0, 16), (1, 15), (2, 14), (3, 13), (4, 12), (5, 11), (6, 10), (7, 9),
    (17, 26), (18, 25), (19, 24), (20, 23), (21, 22),
    (31, 35), (32, 34),
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67),
)  # fmt: skip
"""Pairs of 68-point indices that swap in a mirror image (the other 17 lie on the midline)."""

INNER = tuple(range(17, 68))
"""Brows, nose, eyes and mouth: the points whose 3D position does not slide with the pose."""

# fmt: off
MEAN_SHAPE = np.array([
     -77.0,  -35.8,   54.1,  # 0
     -76.2,  -16.1,   50.8,  # 1
     -74.3,    3.8,   48.8,  # 2
     -70.8,   23.3,   45.5,  # 3
     -63.6,   41.4,   38.0,  # 4
     -52.0,   57.2,   27.2,  # 5
     -37.0,   70.2,   14.9,  # 6
     -19.8,   80.5,    2.8,  # 7
       0.0,   83.5,   -1.3,  # 8
      19.8,   80.5,    2.8,  # 9
      37.0,   70.2,   14.9,  # 10
      52.0,   57.2,   27.2,  # 11
      63.6,   41.4,   38.0,  # 12
      70.8,   23.3,   45.5,  # 13
      74.3,    3.8,   48.8,  # 14
      76.2,  -16.1,   50.8,  # 15
      77.0,  -35.8,   54.1,  # 16
     -60.4,  -52.5,    9.4,  # 17
     -51.5,  -61.5,   -0.5,  # 18
     -38.6,  -64.6,   -8.8,  # 19
     -25.1,  -63.1,  -15.2,  # 20
     -12.4,  -58.3,  -19.7,  # 21
      12.4,  -58.3,  -19.7,  # 22
      25.1,  -63.1,  -15.2,  # 23
      38.6,  -64.6,   -8.8,  # 24
      51.5,  -61.5,   -0.5,  # 25
      60.4,  -52.5,    9.4,  # 26
       0.0,  -44.0,  -20.3,  # 27
       0.0,  -32.1,  -27.6,  # 28
       0.0,  -20.3,  -35.6,  # 29
       0.0,   -8.0,  -43.4,  # 30
     -15.0,    2.6,  -21.6,  # 31
      -7.9,    5.1,  -25.9,  # 32
       0.0,    7.2,  -28.8,  # 33
       7.9,    5.1,  -25.9,  # 34
      15.0,    2.6,  -21.6,  # 35
     -45.0,  -40.1,    2.4,  # 36
     -37.2,  -44.6,   -2.4,  # 37
     -27.9,  -44.6,   -3.9,  # 38
     -19.7,  -39.2,   -2.9,  # 39
     -28.4,  -37.5,   -2.5,  # 40
     -37.5,  -37.4,   -1.2,  # 41
      19.7,  -39.2,   -2.9,  # 42
      27.9,  -44.6,   -3.9,  # 43
      37.2,  -44.6,   -2.4,  # 44
      45.0,  -40.1,    2.4,  # 45
      37.5,  -37.4,   -1.2,  # 46
      28.4,  -37.5,   -2.5,  # 47
     -29.6,   30.3,    4.1,  # 48
     -19.0,   24.1,  -10.7,  # 49
      -8.1,   21.3,  -19.4,  # 50
       0.0,   23.0,  -20.7,  # 51
       8.1,   21.3,  -19.4,  # 52
      19.0,   24.1,  -10.7,  # 53
      29.6,   30.3,    4.1,  # 54
      19.4,   40.1,   -6.4,  # 55
       8.7,   44.1,  -13.6,  # 56
       0.0,   44.9,  -15.0,  # 57
      -8.7,   44.1,  -13.6,  # 58
     -19.4,   40.1,   -6.4,  # 59
     -25.0,   30.4,    1.8,  # 60
      -8.2,   27.2,  -17.0,  # 61
       0.0,   27.9,  -18.7,  # 62
       8.2,   27.2,  -17.0,  # 63
      25.0,   30.4,    1.8,  # 64
       8.4,   34.8,  -14.4,  # 65
       0.0,   35.6,  -16.0,  # 66
      -8.4,   34.8,  -14.4,  # 67
], dtype=np.float64).reshape(-1, 3)
# fmt: on
"""Generic 3D face, (68, 3) float64, roughly mm; x right, y down, z away from the camera at
pose 0 (the nose tip has the smallest z). See the module docstring and :func:`fit_mean_shape`."""


def fit_mean_shape(landmarks: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    """A symmetric 3D mean face from many faces' 2D dlib 68-point landmarks, (N, 68, 2).

    Tomasi-Kanade factorisation under scaled orthography on the :data:`INNER` points (rank 3, then
    the metric upgrade that makes each camera's two rows orthogonal and of equal length), every
    point triangulated from those cameras, then put in the camera-aligned frame (x from the
    image-left to the image-right member of each mirror pair, y from the eyes towards the chin,
    z = x cross y, nose towards -z), mirrored and averaged so it is exactly symmetric, and scaled
    to 90 between the outer eye corners (36, 45). Pitch is left as the eye-chin direction; the
    caller turns it so that a reference set reads pitch 0 (see :func:`pitch_about_x`)."""
    marks = np.asarray(landmarks, dtype=np.float64)
    if marks.ndim != 3 or marks.shape[1:] != (68, 2) or len(marks) < 10:
        raise InvalidInput("fit_mean_shape needs (N >= 10, 68, 2) landmarks")
    inner = list(INNER)
    n = len(marks)
    centred = marks - marks[:, inner].mean(axis=1, keepdims=True)
    centred /= np.sqrt((centred[:, inner] ** 2).sum(axis=(1, 2)) / len(inner))[:, None, None]
    w = np.empty((2 * n, 68))
    w[0::2], w[1::2] = centred[:, :, 0], centred[:, :, 1]
    u, s, _ = np.linalg.svd(w[:, inner], full_matrices=False)
    cams = u[:, :3] * np.sqrt(s[:3])

    def coeffs(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        # a^T L b for a symmetric 3x3 L with unknowns (l00, l01, l02, l11, l12, l22)
        return np.array(
            [
                a[0] * b[0],
                a[0] * b[1] + a[1] * b[0],
                a[0] * b[2] + a[2] * b[0],
                a[1] * b[1],
                a[1] * b[2] + a[2] * b[1],
                a[2] * b[2],
            ]
        )

    rows, rhs = [], []
    for i in range(n):
        r1, r2 = cams[2 * i], cams[2 * i + 1]
        rows += [coeffs(r1, r1) - coeffs(r2, r2), coeffs(r1, r2)]
        rhs += [0.0, 0.0]
    rows.append(np.sum([coeffs(cams[k], cams[k]) for k in range(2 * n)], axis=0) / 2)
    rhs.append(float(n))
    sol = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    gram = np.array([[sol[0], sol[1], sol[2]], [sol[1], sol[3], sol[4]], [sol[2], sol[4], sol[5]]])
    cams = cams @ np.linalg.cholesky(gram)
    shape = np.linalg.lstsq(cams, w, rcond=None)[0].T  # (68, 3)

    left = [a for a, _ in MIRROR_PAIRS]
    right = [b for _, b in MIRROR_PAIRS]
    shape -= shape.mean(axis=0)
    x = (shape[right] - shape[left]).mean(axis=0)
    x /= np.linalg.norm(x)
    y = shape[8] - (shape[36] + shape[45]) / 2
    y -= x * (y @ x)
    y /= np.linalg.norm(y)
    shape = shape @ np.stack([x, y, np.cross(x, y)]).T
    if shape[30, 2] > shape[[36, 45], 2].mean():  # factorisation leaves a depth reflection open
        shape[:, 2] *= -1
    sym = shape.copy()
    for a, b in MIRROR_PAIRS:
        mean = (shape[a] * (-1, 1, 1) + shape[b]) / 2
        sym[b], sym[a] = mean, mean * (-1, 1, 1)
    sym[[i for i in range(68) if i not in left + right], 0] = 0.0
    sym -= sym.mean(axis=0)
    return np.asarray(sym * 90.0 / np.linalg.norm(sym[45] - sym[36]), dtype=np.float64)


def pitch_about_x(shape: npt.NDArray[np.float64], degrees: float) -> npt.NDArray[np.float64]:
    """``shape`` turned about the x axis so that a face that read ``degrees`` of pitch reads 0."""
    t = math.radians(-degrees)
    rx = np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
    return np.asarray(shape @ rx.T, dtype=np.float64)


def camera(height: int, width: int) -> npt.NDArray[np.float64]:
    """The assumed intrinsics: focal length = the longer side, centre = the image centre."""
    f = float(max(height, width))
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], dtype=np.float64)


def angles(rotation: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a model-to-camera rotation, in this module's convention."""
    r = rotation
    pitch = -math.degrees(math.asin(max(-1.0, min(1.0, -r[1, 2]))))
    yaw = -math.degrees(math.atan2(r[0, 2], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[1, 1]))
    return yaw, pitch, roll


def solve_pose(
    marks: npt.NDArray[np.floating[Any]],
    height: int,
    width: int,
    shape: npt.NDArray[np.float64] | None = None,
) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from (68, 2) landmarks in an image of this size."""
    import cv2

    model = MEAN_SHAPE if shape is None else shape
    points = np.ascontiguousarray(marks, dtype=np.float64).reshape(68, 2)
    if not np.all(np.isfinite(points)):
        raise InvalidInput("landmarks must be finite")
    # Start from a frontal head at the distance the eye spacing implies: left to its own
    # initialisation, solvePnP lands on the mirror solution behind the camera for ~1 face in 4.
    k = camera(height, width)
    eyes = float(np.linalg.norm(points[45] - points[36]))
    depth = k[0, 0] * float(np.linalg.norm(model[45] - model[36])) / max(eyes, 1.0)
    centre = points.mean(axis=0)
    rvec = np.zeros((3, 1))
    tvec = np.array(
        [
            [(centre[0] - k[0, 2]) * depth / k[0, 0]],
            [(centre[1] - k[1, 2]) * depth / k[1, 1]],
            [depth],
        ]
    )
    ok, rvec_out, tvec_out = cv2.solvePnP(
        model.reshape(68, 1, 3),
        points.reshape(68, 1, 2),
        k,
        None,
        rvec,
        tvec,
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok or float(np.asarray(tvec_out).ravel()[2]) <= 0:
        raise InvalidInput("head pose could not be solved from these landmarks")
    rotation, _ = cv2.Rodrigues(np.asarray(rvec_out, dtype=np.float64))
    return angles(np.asarray(rotation, dtype=np.float64))


class PoseAnalyzer:
    """Head pose and the 68 landmarks it was solved from; see the module docstring."""

    name = "pose"

    def __init__(self) -> None:
        self._landmarks = DlibLandmarks(68)

    def landmarks(self, image: Image, detection: Detection) -> npt.NDArray[np.float32]:
        """dlib's 68 points in the detection's box: float32 (68, 2), pixels (x, y)."""
        box = detection.bbox
        if box.width < 2 or box.height < 2:
            raise InvalidInput(f"face box {box.as_list()} is too small to analyse (< 2 px)")
        return self._landmarks.fit(np.ascontiguousarray(image), box)

    def pose(self, image: Image, detection: Detection) -> tuple[float, float, float]:
        """(yaw, pitch, roll) in degrees."""
        h, w = image.shape[:2]
        return solve_pose(self.landmarks(image, detection), h, w)

    def analyze(self, image: Image, detection: Detection) -> dict[str, Any]:
        """``{"pose": {"yaw", "pitch", "roll"} (degrees, 1 decimal), "landmarks68": [[x, y]] x 68
        (pixels, 1 decimal)}``."""
        h, w = image.shape[:2]
        marks = self.landmarks(image, detection)
        yaw, pitch, roll = solve_pose(marks, h, w)
        return {
            "pose": {"yaw": round(yaw, 1), "pitch": round(pitch, 1), "roll": round(roll, 1)},
            "landmarks68": [[round(float(x), 1), round(float(y), 1)] for x, y in marks],
        }
