"""POST /v1/video (an uploaded clip -> the timeline) and POST /v1/blur (a photo -> the photo with
its faces covered, no metadata), on a short synthetic clip of a real LFW face."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from facewise.video import synthetic as sy

from .server_helpers import Api

pytestmark = [pytest.mark.models, pytest.mark.data]


def test_video_route_returns_the_timeline_and_refuses_garbage(
    make_api: Callable[..., Api], engine: Any, face_photo: Path, tmp_path: Path
) -> None:
    api = make_api("video")  # an empty gallery: the session's may hold this face (test_hostile)
    still = np.asarray(PILImage.open(face_photo).convert("RGB"))
    face = engine.detector.detect(still)[0].bbox
    clip = sy.render([sy.Actor("a", still, face, start=(320, 180), velocity=(1, 0))], 25)
    data = sy.write(clip.frames, tmp_path / "c.mp4").read_bytes()
    response = api.call("POST", "/v1/video", files={"video": ("c.mp4", data, "video/mp4")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"timeline", "tracks", "fps", "frames"} <= set(body) and body["frames"] == 25
    assert len(body["timeline"]) == 1 and body["timeline"][0]["person"] is None
    bad = api.call("POST", "/v1/video", files={"video": ("c.mp4", b"not a video", "video/mp4")})
    assert bad.status_code == 415 and bad.json()["code"] == "image_decode_error"


def test_blur_route_covers_the_face_and_strips_exif(api: Api, face_photo: Path) -> None:
    original = PILImage.open(face_photo).convert("RGB")
    buf = io.BytesIO()
    exif = PILImage.Exif()
    exif[0x010F] = "SecretCam"
    original.save(buf, format="JPEG", exif=exif.tobytes())
    response = api.call(
        "POST", "/v1/blur", files={"image": ("p.jpg", buf.getvalue(), "image/jpeg")}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-facewise-faces"] == "1"
    out = PILImage.open(io.BytesIO(response.content))
    assert not out.getexif() and out.size == original.size
    centre = (slice(100, 150), slice(100, 150))
    before = np.asarray(original)[centre].astype(float)
    after = np.asarray(out.convert("RGB"))[centre].astype(float)
    assert np.abs(before - after).mean() > 8
