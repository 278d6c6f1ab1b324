"""The active liveness challenge over HTTP: ``POST /v1/challenge`` starts one (two steps, blink
and head turn, in a random order) and ``POST /v1/challenge/{id}/frame`` sends one camera frame;
each answer is the challenge's state. The server decides, on its own clock; the client only
shows what is asked (:mod:`facewise.server.challenges`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from facewise.engine import largest_detection
from facewise.liveness.challenge import observation
from facewise.server.routes import AUTH, IMAGE, errors
from facewise.server.routes.images import ONE, OneImage
from facewise.server.schemas import ChallengeBody, ChallengeOut
from facewise.server.services import ReadKey, Svc
from facewise.server.uploads import openapi_body

router = APIRouter(prefix="/v1/challenge", tags=["liveness"])

ChallengeId = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="The challenge."),
]
_WHY = {404: "No such challenge for this key (unknown, another key's, or expired)."}


@router.post("", status_code=201, response_model=ChallengeOut, responses=errors(*AUTH, 422))
def start(key: ReadKey, svc: Svc, options: ChallengeBody | None = None) -> dict[str, Any]:
    """Start a challenge: the steps in the order asked and the first step. Send frames at a few
    per second; a still picture or a replayed frame fails it (``frozen``)."""
    timeout = (options or ChallengeBody()).timeout_s
    session = svc.challenges.start(key.id, timeout_s=timeout)
    return session.as_dict(svc.challenges.clock())


@router.post(
    "/{challenge_id}/frame",
    response_model=ChallengeOut,
    responses=errors(*IMAGE, 404, why=_WHY),
    openapi_extra=openapi_body(ONE),
)
def frame(key: ReadKey, svc: Svc, challenge_id: ChallengeId, parsed: OneImage) -> dict[str, Any]:
    """One camera frame (a JPEG or PNG) of the challenge; the state after it. A frame that
    cannot be read is refused (400, 413 or 415) and changes nothing; a frame without a face
    counts towards ``face_lost``."""
    session = svc.challenges.get(challenge_id, key.id)
    arrived = svc.challenges.clock()
    image = svc.engine.load_image(parsed.one("image").data)
    with session.lock:
        if session.machine.status.state == "pending":
            found = svc.engine.detector.detect(image)
            face = largest_detection(found) if found else None
            seen = observation(arrived - session.started, image, face, svc.engine.analyzer("pose"))
            session.machine.observe(seen)
            session.faces += face is not None
        session.frames += 1
        return session.as_dict(svc.challenges.clock())
