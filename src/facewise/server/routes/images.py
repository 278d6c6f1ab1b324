"""Routes over uploaded images: detect, embed, verify, identify, analyze, liveness. Each answers
the same JSON as the matching ``facewise ... --json`` command gives for one image (without
``path``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from facewise.engine import DEFAULT_ANALYSIS
from facewise.errors import FacewiseError
from facewise.serialize import (
    analyses_dict,
    detections_dict,
    embeddings_dict,
    identification_dict,
    liveness_dict,
    liveness_field,
    verification_dict,
)
from facewise.server.routes import IMAGE, errors
from facewise.server.schemas import (
    AnalyzeOut,
    DetectOut,
    EmbedOut,
    IdentifyBody,
    IdentifyOut,
    ImageBody,
    LivenessOut,
    VerifyBody,
    VerifyOut,
)
from facewise.server.services import ReadKey, Svc, actor
from facewise.server.uploads import BodySpec, Parsed, body, openapi_body

router = APIRouter(prefix="/v1", tags=["images"])

ONE = BodySpec(ImageBody, images=("image",))
SEVERAL = BodySpec(IdentifyBody, many="image")
TWO = BodySpec(VerifyBody, images=("image_a", "image_b"))
OneImage = Annotated[Parsed, Depends(body(ONE))]
TwoImages = Annotated[Parsed, Depends(body(TWO))]

DEFAULT_WHAT = ",".join(DEFAULT_ANALYSIS)


@router.post(
    "/detect", response_model=DetectOut, responses=errors(*IMAGE), openapi_extra=openapi_body(ONE)
)
def detect(key: ReadKey, svc: Svc, parsed: OneImage) -> dict[str, Any]:
    """Every face: box [x1, y1, x2, y2] in pixels, score, 5 landmarks."""
    return detections_dict(svc.engine.detect(parsed.one("image").data))


@router.post(
    "/embed", response_model=EmbedOut, responses=errors(*IMAGE), openapi_extra=openapi_body(ONE)
)
def embed(
    key: ReadKey,
    svc: Svc,
    parsed: OneImage,
    largest: Annotated[bool, Query(description="Only the largest face.")] = False,
) -> dict[str, Any]:
    """Embedding vectors of the faces, with the embedding space that produced them."""
    faces = svc.engine.embed(parsed.one("image").data, largest=largest)
    return embeddings_dict(faces, svc.engine.space.as_dict())


@router.post(
    "/verify", response_model=VerifyOut, responses=errors(*IMAGE), openapi_extra=openapi_body(TWO)
)
def verify(
    key: ReadKey,
    svc: Svc,
    parsed: TwoImages,
    threshold_at: Annotated[
        Literal["fmr", "accuracy"],
        Query(description="fmr: false-match rate 1e-3 on LFW; accuracy: best LFW accuracy."),
    ] = "fmr",
    liveness: Annotated[
        bool, Query(description="Add each face's liveness verdict (the bundled passive model).")
    ] = False,
) -> dict[str, Any]:
    """Are the largest faces of ``image_a`` and ``image_b`` the same person? With
    ``liveness=true`` each face also gets a ``liveness`` field (``live``, ``score``,
    ``threshold``), as ``facewise verify --liveness``: a verdict, never an error."""
    a, b = parsed.one("image_a").data, parsed.one("image_b").data
    result = svc.engine.verify(a, b, operating_point=threshold_at)
    out = verification_dict(result)
    if liveness:
        from facewise.liveness import check_pair

        pair = check_pair(svc.engine, a, b, result)
        for side, judged in zip(("face_a", "face_b"), pair, strict=True):
            out[side]["liveness"] = liveness_field(judged)
    return out


@router.post(
    "/identify",
    response_model=IdentifyOut,
    responses=errors(*IMAGE, 409),
    openapi_extra=openapi_body(SEVERAL),
)
def identify(
    key: ReadKey,
    svc: Svc,
    parsed: Annotated[Parsed, Depends(body(SEVERAL))],
    top: Annotated[int, Query(ge=1, le=100, description="Candidates per face.")] = 5,
    liveness: Annotated[
        bool, Query(description="Add each face's liveness verdict (the bundled passive model).")
    ] = False,
) -> dict[str, Any]:
    """Who is in the image(s)? Every face: the open-set decision (a person, or null for
    unknown) at the threshold that holds the target FPIR for this gallery, what the score means
    (``fmr``, ``fpir_at_score``), and the top candidates; with ``liveness=true`` a ``liveness``
    field (``live``, ``score``, ``threshold``), as ``facewise identify --liveness``. Several
    images (up to 20, the size limit applies to the whole request) are searched one by one: an
    image that cannot be read gets its own ``error`` and the others are still searched. Each
    query is written to the audit log."""
    uploads = parsed.uploads["image"]
    images: list[dict[str, Any]] = []
    for upload in uploads:
        try:
            results = svc.gallery.identify(upload.data, top=top, actor=actor(key))
        except FacewiseError as exc:
            if len(uploads) == 1:
                raise
            images.append({"image": upload.label, "error": exc.to_dict()})
            continue
        judged: list[dict[str, Any] | None] = [None] * len(results)
        if liveness and results:
            from facewise.liveness import check

            image = svc.engine.load_image(upload.data)
            verdicts = check(image, [r.face.detection for r in results])
            judged = [liveness_field(v) for v in verdicts]
        faces = []
        for r, live in zip(results, judged, strict=True):
            face = identification_dict(r)
            decision = face["decision"]
            if live is not None:
                face["liveness"] = live
            faces.append({"person": decision["person"], "score": decision["score"], **face})
        images.append({"image": upload.label, "faces": faces})
    out: dict[str, Any] = {"images": images}
    if len(images) == 1:
        out["faces"] = images[0]["faces"]
    return out


@router.post(
    "/analyze",
    response_model=AnalyzeOut,
    responses=errors(*IMAGE),
    openapi_extra=openapi_body(ONE),
)
def analyze(
    key: ReadKey,
    svc: Svc,
    parsed: OneImage,
    what: Annotated[
        str,
        Query(
            max_length=200,
            description="Comma-separated: age, gender, expression, pose, landmarks, quality, mesh, "
            "liveness.",
        ),
    ] = DEFAULT_WHAT,
    largest: Annotated[bool, Query(description="Only the largest face.")] = False,
    aligned: Annotated[
        bool, Query(description="The image is a tight face crop: no detection.")
    ] = False,
) -> dict[str, Any]:
    """Age, gender, expression, head pose, landmarks and quality of every face."""
    wanted = [w.strip() for w in what.split(",") if w.strip()]
    faces = svc.engine.analyze(
        parsed.one("image").data, what=wanted, largest=largest, aligned=aligned
    )
    return analyses_dict(faces, wanted)


@router.post(
    "/liveness",
    response_model=LivenessOut,
    responses=errors(*IMAGE),
    openapi_extra=openapi_body(ONE),
)
def liveness(
    key: ReadKey,
    svc: Svc,
    parsed: OneImage,
    largest: Annotated[bool, Query(description="Only the largest face.")] = False,
) -> dict[str, Any]:
    """Is each face live or a presentation attack (the bundled passive model, trained on NUAA
    printed-photo attacks)? Every face: box, ``live``, ``score`` (live probability) and the
    ``threshold``. No face: an empty list."""
    return liveness_dict(svc.engine.liveness(parsed.one("image").data, largest=largest))
