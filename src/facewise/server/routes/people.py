"""People: create (enrol), list, show, add samples, rename, merge, remove, forget."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from facewise.errors import Conflict, FacewiseError, InvalidInput
from facewise.gallery.gallery import EnrolResult
from facewise.gallery.records import Person
from facewise.io import image_sha256
from facewise.serialize import enrol_dict, people_dict, person_dict
from facewise.server.errors import NotFound, NothingEnrolled
from facewise.server.keys import ApiKey
from facewise.server.routes import AUTH, IMAGE, errors
from facewise.server.schemas import (
    CreateBody,
    CreateFields,
    EnrolBody,
    EnrolFields,
    EnrolOut,
    MergeBody,
    PeopleOut,
    PersonOut,
    ReceiptOut,
    RemovedOut,
    RenameBody,
)
from facewise.server.services import AdminKey, EnrolKey, ReadKey, Services, Svc, actor
from facewise.server.uploads import BodySpec, Parsed, body, openapi_body

router = APIRouter(prefix="/v1/people", tags=["people"])

CREATE = BodySpec(CreateBody, many="images", fields=CreateFields)
ADD = BodySpec(EnrolBody, many="images", fields=EnrolFields)

Name = Annotated[str, Path(min_length=1, max_length=200, description="The person's name.")]


def _require(svc: Services, name: str) -> Person:
    found = svc.gallery.store.person(name)
    if found is None:
        raise NotFound(f"no person named {name!r} in the gallery")
    return found


def _enrol(
    svc: Services,
    person: str,
    parsed: Parsed,
    key: ApiKey,
    *,
    new: bool = False,
    person_id: int | None = None,
) -> EnrolResult:
    """One face from each upload; uploads already enrolled for ``person`` (same bytes) or
    repeated in the request are skipped, and so is an upload without exactly one face (unless
    ``largest``), with the reason. Nothing usable at all is 422 ``nothing_enrolled``. With
    ``new`` the person must not exist: 409, decided by the store in the enrolment's own
    transaction (two workers creating one name cannot both succeed). With ``person_id`` (looked
    up before the slow face detection) the store adds the samples only if that person is still
    there under that name: 404 if they were forgotten, removed, renamed or merged meanwhile."""
    fields = parsed.fields
    assert isinstance(fields, EnrolFields)
    gallery = svc.gallery
    samples, skipped, seen, labels = [], [], set(), []
    for upload in parsed.uploads["images"]:
        digest = image_sha256(upload.data)
        if digest in seen:
            skipped.append({"image": upload.label, "reason": "the same image twice in a request"})
            continue
        seen.add(digest)
        if gallery.store.has_image(person, digest):
            skipped.append({"image": upload.label, "reason": "already enrolled"})
            continue
        try:
            samples.append(
                gallery.sample_from(
                    upload.data, digest, fields.source or upload.label, largest=fields.largest
                )
            )
            labels.append(upload.label)
        except FacewiseError as exc:
            skipped.append({"image": upload.label, "reason": exc.message, "code": exc.code})
    failed = [item for item in skipped if "code" in item]
    if not samples and failed:
        raise NothingEnrolled(
            f"nothing enrolled for {person!r}: {failed[0]['reason']}", skipped=skipped
        )
    return gallery.add_samples(
        person,
        samples,
        skipped,
        consent=fields.consent,
        expires_at=fields.expires_at,
        enrolled_by=actor(key),
        new_person=new,
        person_id=person_id,
        labels=labels,
    )


@router.get("", response_model=PeopleOut, responses=errors(*AUTH))
def list_people(key: ReadKey, svc: Svc) -> dict[str, Any]:
    """Everyone enrolled, by name, with their number of samples."""
    return people_dict(svc.gallery.people())


@router.post(
    "",
    status_code=201,
    response_model=EnrolOut,
    responses=errors(*IMAGE, 409),
    openapi_extra=openapi_body(CREATE),
)
def create_person(
    key: EnrolKey, svc: Svc, parsed: Annotated[Parsed, Depends(body(CREATE))]
) -> dict[str, Any]:
    """Enrol a new person from one or more photos (one face each). 409 when the name is taken
    (add samples to an existing person with ``POST /v1/people/{name}/samples``)."""
    assert isinstance(parsed.fields, CreateFields)
    name = parsed.fields.name
    if svc.gallery.store.person(name) is not None:
        raise Conflict(f"a person named {name!r} exists already; add samples to them instead")
    return enrol_dict(_enrol(svc, name, parsed, key, new=True))


@router.get("/{name}", response_model=PersonOut, responses=errors(*AUTH, 404))
def get_person(name: Name, key: ReadKey, svc: Svc) -> dict[str, Any]:
    """A person with the consent and provenance of every sample (never the vectors)."""
    person = _require(svc, name)
    return person_dict(person, svc.gallery.store.samples_of(person.name))


@router.post(
    "/{name}/samples",
    status_code=201,
    response_model=EnrolOut,
    responses=errors(*IMAGE, 404),
    openapi_extra=openapi_body(ADD),
)
def add_samples(
    name: Name, key: EnrolKey, svc: Svc, parsed: Annotated[Parsed, Depends(body(ADD))]
) -> dict[str, Any]:
    """Enrol more photos of an existing person (404 if they are forgotten, removed, renamed or
    merged before the photos are stored: an enrolment never brings a person back)."""
    person = _require(svc, name)
    return enrol_dict(_enrol(svc, person.name, parsed, key, person_id=person.id))


@router.patch("/{name}", response_model=PersonOut, responses=errors(400, *AUTH, 404, 409, 422))
def rename_person(name: Name, change: RenameBody, key: AdminKey, svc: Svc) -> dict[str, Any]:
    """Rename a person (409 when the new name is taken: merge instead)."""
    old = _require(svc, name)
    if change.name == old.name:
        raise InvalidInput(f"{old.name!r} is already called that")
    person = svc.gallery.rename(old.name, change.name, actor=actor(key))
    return person_dict(person, svc.gallery.store.samples_of(person.name))


@router.post(
    "/{name}/merge", response_model=PersonOut, responses=errors(400, *AUTH, 404, 422)
)
def merge_person(name: Name, target: MergeBody, key: AdminKey, svc: Svc) -> dict[str, Any]:
    """Move every sample of ``name`` to ``into`` and remove ``name``; answers the target."""
    source, into = _require(svc, name), _require(svc, target.into)
    person = svc.gallery.merge(source.name, into.name, actor=actor(key))
    return person_dict(person, svc.gallery.store.samples_of(person.name))


@router.delete("/{name}", response_model=RemovedOut, responses=errors(*AUTH, 404))
def remove_person(name: Name, key: AdminKey, svc: Svc) -> dict[str, int]:
    """Remove a person and their samples (``forget`` for a verified erasure with a receipt)."""
    person = _require(svc, name)
    return {"removed": svc.gallery.remove(person.name, actor=actor(key))}


@router.post("/{name}/forget", response_model=ReceiptOut, responses=errors(*AUTH, 404))
def forget_person(name: Name, key: AdminKey, svc: Svc) -> dict[str, Any]:
    """Erase a person everywhere; answers the erasure receipt (as ``facewise forget --json``)."""
    person = _require(svc, name)
    receipt: dict[str, Any] = svc.gallery.forget(person.name, actor=actor(key))
    return receipt
