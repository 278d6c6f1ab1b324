"""Request and response models: what /docs shows and what schemathesis generates from.

Responses are the dicts :mod:`facewise.serialize` builds for ``--json``; the models name the keys
clients rely on and allow the rest (``extra="allow"``), so the CLI and the service stay one shape.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from facewise.errors import InvalidInput
from facewise.gallery import names
from facewise.gallery.records import parse_time

MAX_FILES = 20
"""Most image files one request may carry (enrolment); more is refused with 422."""


def _clean_text(what: str, *, slash: bool) -> Any:
    def check(value: str) -> str:
        if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
            raise ValueError(f"{what} must not contain control or format characters")
        if not slash and "/" in value:
            raise ValueError(f"{what} must not contain '/'")
        if value != value.strip():
            raise ValueError(f"{what} must not start or end with spaces")
        return value

    return AfterValidator(check)


def _person_name(value: str) -> str:
    try:
        return names.person_name(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


PersonName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=names.MAX_INPUT,
        description="The name rule, the same as the CLI's: " + names.RULE + ". Stored in NFKC "
        "form; a name equal to a stored one after normalisation, case folding and look-alike "
        "letters is the same person (409).",
    ),
    AfterValidator(_person_name),
]
Consent = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="The lawful basis recorded with every sample, e.g. 'consent', 'contract', "
        "'legitimate-interest', or a reference to a signed form.",
    ),
    _clean_text("consent", slash=True),
]
Source = Annotated[
    str,
    Field(min_length=1, max_length=500, description="Provenance note (default: the file name)."),
    _clean_text("source", slash=True),
]


def _check_date(value: str) -> str:
    try:
        parse_time(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    return value


ExpiresAt = Annotated[
    str,
    Field(
        min_length=4,
        max_length=40,
        description="Date (YYYY-MM-DD) or ISO datetime after which the samples are purged.",
    ),
    AfterValidator(_check_date),
]
Base64Image = Annotated[
    str,
    Field(
        min_length=1,
        description="An image file's bytes, base64-encoded (a 'data:image/...;base64,' prefix is "
        "allowed). Never a path or a URL: the server reads nothing but these bytes.",
        json_schema_extra={"contentEncoding": "base64"},
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- requests ---------------------------------------------------------------------------------


class ImageBody(_Strict):
    image: Base64Image


class IdentifyBody(_Strict):
    image: Base64Image | list[Base64Image] = Field(
        description="One image, or a list of up to 20 (the request's size limit applies to the "
        "total)."
    )

    @field_validator("image")
    @classmethod
    def _count(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not 1 <= len(value) <= MAX_FILES:
            raise ValueError(f"give 1 to {MAX_FILES} images")
        return value


class VerifyBody(_Strict):
    image_a: Base64Image
    image_b: Base64Image


class EnrolFields(_Strict):
    """The text fields of an enrolment (multipart form fields or JSON keys)."""

    consent: Consent
    source: Source | None = None
    expires_at: ExpiresAt | None = None
    largest: bool = Field(False, description="Use the largest face of a multi-face photo.")
    liveness: bool = Field(
        False, description="Refuse a face the liveness check judges a presentation attack."
    )


class CreateFields(EnrolFields):
    name: PersonName


class EnrolBody(EnrolFields):
    images: list[Base64Image] = Field(min_length=1, max_length=MAX_FILES)


class CreateBody(CreateFields):
    images: list[Base64Image] = Field(min_length=1, max_length=MAX_FILES)


class RenameBody(_Strict):
    name: PersonName


class MergeBody(_Strict):
    into: PersonName


# --- responses --------------------------------------------------------------------------------


class ErrorOut(_Open):
    code: str = Field(description="Stable machine-readable error name.")
    message: str


class StatusOut(_Strict):
    status: str


class WhoAmIOut(_Strict):
    name: str
    scopes: list[Literal["read", "enrol", "admin"]]


class DetectionOut(_Open):
    bbox: list[float] = Field(description="[x1, y1, x2, y2] in image pixels.")
    score: float
    landmarks: list[list[float]]
    landmark_scheme: str
    detector: str


class DetectOut(_Strict):
    faces: list[DetectionOut]


class LivenessFieldOut(_Strict):
    live: bool
    score: float = Field(description="The live probability, 0-1.")
    threshold: float = Field(description="Faces scoring at least this are judged live.")


class LivenessFaceOut(_Strict):
    bbox: list[float] = Field(description="[x1, y1, x2, y2] in image pixels.")
    live: bool
    score: float = Field(description="The live probability, 0-1.")
    threshold: float = Field(description="Faces scoring at least this are judged live.")


class LivenessOut(_Strict):
    faces: list[LivenessFaceOut]


class EmbeddedFaceOut(DetectionOut):
    embedding: list[float] = Field(description="L2-normalised vector of the space's dimension.")


class EmbedOut(_Strict):
    faces: list[EmbeddedFaceOut]
    space: dict[str, Any]


class VerifiedFaceOut(DetectionOut):
    liveness: LivenessFieldOut | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="With ?liveness=true only: the face's liveness verdict.",
    )


class VerifyOut(_Open):
    verified: bool
    score: float
    threshold: float
    operating_point: Literal["fmr", "accuracy"]
    fmr: float | None = Field(
        description="How often one comparison with a stranger scores at least `score`."
    )
    metric: str
    model: str
    face_a: VerifiedFaceOut
    face_b: VerifiedFaceOut


class CandidateOut(_Strict):
    person: str
    score: float


class DecisionOut(_Strict):
    person: str | None
    accepted: bool
    score: float | None
    threshold: float = Field(
        description="The score to reach so that at most `fpir` of strangers are accepted by this "
        "gallery as it is now (its size and templates)."
    )
    fpir: float = Field(description="The target false-positive identification rate.")
    fpir_at_score: float | None = Field(
        description="How often a stranger's best match in this gallery scores at least `score`."
    )
    fmr: float | None = Field(
        description="How often one comparison with a stranger scores at least `score`."
    )
    gallery_size: int = Field(description="People searched.")


class IdentifiedFaceOut(_Strict):
    bbox: list[float] = Field(description="[x1, y1, x2, y2] in image pixels.")
    person: str | None = Field(description="The accepted person, or null for an unknown face.")
    score: float | None = Field(description="The best candidate's score (null: empty gallery).")
    decision: DecisionOut
    candidates: list[CandidateOut]
    liveness: LivenessFieldOut | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="With ?liveness=true only: the face's liveness verdict.",
    )


class ImageErrorOut(_Strict):
    code: str
    message: str


class IdentifiedImageOut(_Strict):
    image: str = Field(description="The upload's file name (or image[i] / image).")
    faces: list[IdentifiedFaceOut] | None = None
    error: ImageErrorOut | None = Field(
        default=None, description="Why this image could not be searched (the others were)."
    )


class IdentifyOut(_Strict):
    images: list[IdentifiedImageOut] = Field(description="One entry per image, in order.")
    faces: list[IdentifiedFaceOut] | None = Field(
        default=None, description="With a single image: its faces (as images[0].faces)."
    )


class AnalyzedFaceOut(_Open):
    bbox: list[float]
    detected: bool


class AnalyzeOut(_Strict):
    faces: list[AnalyzedFaceOut]


class PersonRowOut(_Strict):
    name: str
    samples: int
    created_at: str


class PeopleOut(_Strict):
    people: list[PersonRowOut]


class SampleOut(_Open):
    id: int
    source: str
    consent: str
    enrolled_at: str
    enrolled_by: str
    expires_at: str | None
    quality: float
    bbox: list[float]


class PersonOut(_Strict):
    name: str
    created_at: str
    samples: list[SampleOut]


class SkippedOut(_Open):
    image: str
    reason: str


class EnrolOut(_Strict):
    person: str
    enrolled: int
    skipped: list[SkippedOut]


class RemovedOut(_Strict):
    removed: int


class ReceiptOut(_Open):
    person: str
    removed_samples: int
    verified: bool
    receipt_sha256: str
    audit_seq: int


class EventOut(_Open):
    seq: int
    at: str
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    hash: str


class EventsOut(_Strict):
    events: list[EventOut]


class AuditVerifyOut(_Strict):
    ok: bool
    events: int
    first_bad_seq: int | None
    message: str


# --- collections ------------------------------------------------------------------------------

RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]
"""A face or cluster id of a collection (SQLite's integer range)."""


class PhotosBody(IdentifyBody):
    """Photos to add to a collection: one base64 image, or a list of up to 20."""


class NameClusterBody(_Strict):
    name: PersonName


class MergeClustersBody(_Strict):
    other: RowId = Field(description="The cluster whose faces move into this one.")


class SplitBody(_Strict):
    faces: list[RowId] = Field(
        min_length=1, max_length=10_000, description="Faces of the cluster to move to a new one."
    )


class MoveBody(_Strict):
    cluster: RowId = Field(description="The cluster the face goes into.")


class AnswerBody(_Strict):
    """The answer to one question of the queue: is ``face`` (or cluster ``other``; give one)
    the person of cluster ``cluster``?"""

    cluster: RowId = Field(description="The named cluster asked about.")
    face: RowId | None = Field(default=None, description="The face asked about.")
    other: RowId | None = Field(default=None, description="The cluster asked about.")
    answer: Literal["yes", "no"] = Field(
        description="yes: the face goes there (or the clusters merge); no: never there."
    )


class QuestionOut(_Strict):
    cluster: int = Field(description="The named cluster asked about.")
    name: str | None
    cover: int | None = Field(description="Its best-quality face.")
    face: int | None = Field(description="The face asked about (null for a merge proposal).")
    member: bool | None = Field(
        description="The face is in that cluster now (a no takes it out); null for a merge."
    )
    other: int | None = Field(description="The unnamed cluster proposed for a merge.")
    other_cover: int | None
    size: int = Field(description="Faces named by a yes.")
    score: float
    confidence: float = Field(description="The probability that the answer is yes.")
    gain: float = Field(description="Faces expected to get their right name from the answer.")


class QuestionsOut(_Strict):
    name: str
    queue: list[QuestionOut] = Field(description="Most useful first.")
    merges: int = Field(description="Merge proposals in all.")
    questions: int = Field(description="Questions about single faces in all.")


class EnrolClusterBody(_Strict):
    consent: Consent
    expires_at: ExpiresAt | None = None


class CollectionFaceOut(_Strict):
    face: int
    path: str = Field(description="The photo's label: the uploaded file's name.")
    bbox: list[float] = Field(description="[x1, y1, x2, y2] in the photo's pixels.")
    quality: float
    pinned: bool = Field(description="A user decision put the face where it is.")


class ClusterOut(_Strict):
    id: int
    name: str | None
    person: str | None = Field(description="The gallery person it was enrolled as, if any.")
    size: int
    cover: int = Field(description="The face id of the best-quality face.")
    faces: list[CollectionFaceOut]


class CollectionOut(_Strict):
    name: str
    clusters: list[ClusterOut] = Field(description="Largest first.")
    unclustered: list[CollectionFaceOut] = Field(description="Faces seen once (or rejected).")


class SplitOut(CollectionOut):
    new_cluster: int = Field(description="The cluster the faces went to.")


class AddErrorOut(_Strict):
    path: str = Field(description="The upload's label.")
    error: ImageErrorOut


class AddedOut(_Strict):
    photos_added: int
    photos_known: int = Field(description="Photos the collection already had (same bytes).")
    faces_added: int
    errors: list[AddErrorOut]


class PhotosOut(CollectionOut):
    added: AddedOut


class CollectionRowOut(_Strict):
    name: str
    clusters: int
    named: int
    faces: int
    unclustered: int


class CollectionsOut(_Strict):
    collections: list[CollectionRowOut]


class EnrolledClusterOut(_Strict):
    cluster: int
    person: str
    enrolled: int


class DecisionEventOut(_Open):
    seq: int
    at: str
    actor: str
    action: str


class DecisionsOut(_Strict):
    decisions: list[DecisionEventOut]


class ChallengeBody(_Strict):
    timeout_s: float = Field(
        default=15.0, ge=3.0, le=60.0, description="Seconds to do both steps, from the start."
    )


class ChallengeOut(_Strict):
    id: str = Field(description="The challenge: send frames to /v1/challenge/{id}/frame.")
    steps: list[Literal["blink", "turn"]] = Field(description="The steps, in the order asked.")
    state: Literal["pending", "passed", "failed"]
    step: Literal["blink", "turn"] | None = Field(description="The step asked for now.")
    done: list[Literal["blink", "turn"]]
    reason: str | None = Field(
        description="Why it failed: timeout, wrong_order, frozen (a still picture or a replayed "
        "frame), face_lost."
    )
    live: bool = Field(description="True once both steps are done in time.")
    message: str | None = Field(description="What the outcome means, for a person.")
    frames: int = Field(description="Frames received.")
    faces: int = Field(description="Frames in which a face was found.")
    elapsed_s: float = Field(description="Seconds since the start, by the server's clock.")
    timeout_s: float
