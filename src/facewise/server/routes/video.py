"""Routes over uploaded clips and photos: ``POST /v1/video`` (who appears when) and
``POST /v1/blur`` (every face covered). An upload is written to a private temporary file
(a 0700 folder, a 0600 file, removed afterwards); the server never reads a path from a client."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from facewise.detectors.base import Detector
from facewise.errors import ImageTooLarge
from facewise.files import private_file
from facewise.server.routes import IMAGE, errors
from facewise.server.schemas import Base64Image, ImageBody, _Strict
from facewise.server.services import ReadKey, Services, Svc
from facewise.server.uploads import BodySpec, Parsed, body, openapi_body

router = APIRouter(prefix="/v1", tags=["video"])

MAX_VIDEO_BYTES = 20 * 1024 * 1024
"""An uploaded clip's size limit (the request limit, ``max_request_bytes``, applies too)."""
MAX_VIDEO_SECONDS = 120.0
"""An uploaded clip's duration limit; longer clips are refused (413)."""


_DETECTORS: dict[float, Detector] = {}
_DETECTORS_LOCK = threading.Lock()


def detector_for(svc: Services, score: float) -> Detector:
    """The YuNet detector of this process at ``score``, built once (YunetDetector locks its net)."""
    with _DETECTORS_LOCK:
        found = _DETECTORS.get(score)
        if found is None:
            from facewise.video.jobs import video_detector

            found = _DETECTORS[score] = video_detector(svc.engine, score=score)
        return found


class VideoBody(_Strict):
    video: Base64Image


CLIP = BodySpec(VideoBody, images=("video",))
PHOTO = BodySpec(ImageBody, images=("image",))
OneClip = Annotated[Parsed, Depends(body(CLIP))]
OnePhoto = Annotated[Parsed, Depends(body(PHOTO))]


@router.post("/video", responses=errors(*IMAGE), openapi_extra=openapi_body(CLIP))
def video(
    key: ReadKey,
    svc: Svc,
    parsed: OneClip,
    every: Annotated[int, Query(ge=1, le=30, description="Detect on every K-th frame.")] = 3,
    identify: Annotated[bool, Query(description="Decide who each track is.")] = True,
) -> dict[str, Any]:
    """The timeline of a clip: ``{"timeline": [{"person", "start", "end", "track",
    "confidence"}], "tracks", "fps", "frames"}``, as ``facewise video --json`` prints it."""
    from facewise.video import analyze as va
    from facewise.video.sources import open_source

    data = parsed.one("video").data
    if len(data) > MAX_VIDEO_BYTES:
        raise ImageTooLarge(f"the clip is larger than {MAX_VIDEO_BYTES // (1024 * 1024)} MB")
    with tempfile.TemporaryDirectory(prefix="facewise-video-") as folder:
        path = Path(folder) / "upload.bin"
        private_file(path)
        path.write_bytes(data)
        src = open_source(path)
        try:
            seconds = getattr(src, "frame_count", 0) / max(src.fps, 1e-6)
            if seconds > MAX_VIDEO_SECONDS:
                raise ImageTooLarge(f"the clip is longer than {MAX_VIDEO_SECONDS:.0f} s")
            analysis = va.analyze(
                src,
                svc.engine,
                detector=detector_for(svc, 0.6),
                gallery=svc.gallery if identify else None,
                options=va.Options(every=every, identify=identify),
            )
        finally:
            src.close()
    return va.to_dict(analysis)


@router.post(
    "/blur",
    responses={**errors(*IMAGE), 200: {"content": {"image/png": {}, "image/jpeg": {}}}},
    openapi_extra=openapi_body(PHOTO),
    response_class=Response,
)
def blur(
    key: ReadKey,
    svc: Svc,
    parsed: OnePhoto,
    method: Annotated[Literal["pixelate", "blur", "solid"], Query()] = "pixelate",
    format: Annotated[Literal["png", "jpeg"], Query(description="Output format.")] = "png",
) -> Response:
    """The photo with every face covered, re-encoded without metadata (EXIF, GPS, XMP).
    ``X-Facewise-Faces`` says how many faces were covered."""
    from facewise.video.jobs import blur_image, encode_image

    image = svc.engine.load_image(parsed.one("image").data)
    pixels, report = blur_image(
        svc.engine,
        image,
        method=method,
        keep=set(),
        gallery=None,
        detector=detector_for(svc, 0.5),
    )
    content = encode_image(pixels, ".png" if format == "png" else ".jpg")
    return Response(
        content,
        media_type=f"image/{format}",
        headers={"X-Facewise-Faces": str(len(report["covered"]))},
    )
