"""People: create (enrol), list, show, add samples, rename, merge, remove, forget."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from facewise.errors import InvalidInput
from facewise.gallery.gallery import EnrollResult
from facewise.serialize import enroll_dict, people_dict, person_dict
from facewise.server.errors import NothingEnrolled
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


def _enroll(
    svc: Services, person: str, parsed: Parsed, key: ApiKey, *, new: bool = False
) -> EnrollResult:
    """One face from each upload (:meth:`Gallery.enroll`: repeats, photos the person has and
    photos without exactly one face are skipped with the reason). Nothing usable at all is 422
    ``nothing_enrolled``; a name taken (``new``) 409; a person forgotten, removed, renamed or
    merged before the photos are stored 404 (an enrolment never brings a person back)."""
    fields = parsed.fields
    assert isinstance(fields, EnrolFields)
    uploads = parsed.uploads["images"]
    result = svc.gallery.enroll(
        person,
        [u.data for u in uploads],
        labels=[u.label for u in uploads],
        consent=fields.consent,
        source=fields.source,
        expires_at=fields.expires_at,
        largest=fields.largest,
        liveness=fields.liveness,
        new=new,
        actor=actor(key),
    )
    failed = [item for item in result.skipped if "code" in item]
    if not result.enrolled and failed:
        raise NothingEnrolled(
            f"nothing enrolled for {person!r}: {failed[0]['reason']}", skipped=result.skipped
        )
    return result


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
    return enroll_dict(_enroll(svc, parsed.fields.name, parsed, key, new=True))


@router.get("/{name}", response_model=PersonOut, responses=errors(*AUTH, 404))
def get_person(name: Name, key: ReadKey, svc: Svc) -> dict[str, Any]:
    """A person with the consent and provenance of every sample (never the vectors)."""
    person = svc.gallery.require(name)
    return person_dict(person, svc.gallery.samples_of(person.name))


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
    person = svc.gallery.require(name)
    return enroll_dict(_enroll(svc, person.name, parsed, key))


@router.patch("/{name}", response_model=PersonOut, responses=errors(400, *AUTH, 404, 409, 422))
def rename_person(name: Name, change: RenameBody, key: AdminKey, svc: Svc) -> dict[str, Any]:
    """Rename a person (409 when the new name is taken: merge instead)."""
    old = svc.gallery.require(name)
    if change.name == old.name:
        raise InvalidInput(f"{old.name!r} is already called that")
    person = svc.gallery.rename(old.name, change.name, actor=actor(key))
    return person_dict(person, svc.gallery.samples_of(person.name))


@router.post("/{name}/merge", response_model=PersonOut, responses=errors(400, *AUTH, 404, 422))
def merge_person(name: Name, target: MergeBody, key: AdminKey, svc: Svc) -> dict[str, Any]:
    """Move every sample of ``name`` to ``into`` and remove ``name``; answers the target."""
    source, into = svc.gallery.require(name), svc.gallery.require(target.into)
    person = svc.gallery.merge(source.name, into.name, actor=actor(key))
    return person_dict(person, svc.gallery.samples_of(person.name))


@router.delete("/{name}", response_model=RemovedOut, responses=errors(*AUTH, 404))
def remove_person(name: Name, key: AdminKey, svc: Svc) -> dict[str, int]:
    """Remove a person and their samples (``forget`` for a verified erasure with a receipt)."""
    person = svc.gallery.require(name)
    return {"removed": svc.gallery.remove(person.name, actor=actor(key))}


@router.post("/{name}/forget", response_model=ReceiptOut, responses=errors(*AUTH, 404))
def forget_person(name: Name, key: AdminKey, svc: Svc) -> dict[str, Any]:
    """Erase a person everywhere; answers the erasure receipt (as ``facewise forget --json``)."""
    person = svc.gallery.require(name)
    receipt: dict[str, Any] = svc.gallery.forget(person.name, actor=actor(key))
    return receipt
