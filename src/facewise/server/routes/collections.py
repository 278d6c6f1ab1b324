"""Photo collections organised by person (:class:`facewise.cluster.collection.Collection`): add
photos, read the clusters and their face thumbnails, name and fix the clusters, enrol a named
cluster into the gallery.

A collection lives in ``FACEWISE_HOME/collections/<name>/`` (``name``: 1-64 letters, digits, ``_``
or ``-``; anything else is 400). Adding photos creates it; every other route answers 404 for a
collection that does not exist (and creates nothing). Each request opens the collection's SQLite
file and closes it again (its writes are transactions, so requests and processes can share it).
Every decision answers the collection as it is after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from facewise.cluster.collection import Collection
from facewise.cluster.store import FILE
from facewise.errors import InvalidInput, NotFound
from facewise.files import private_file
from facewise.server.routes import AUTH, IMAGE, errors
from facewise.server.schemas import (
    AnswerBody,
    CollectionOut,
    CollectionsOut,
    DecisionsOut,
    EnrolClusterBody,
    EnrolledClusterOut,
    MergeClustersBody,
    MoveBody,
    NameClusterBody,
    PhotosBody,
    PhotosOut,
    QuestionsOut,
    SplitBody,
    SplitOut,
)
from facewise.server.services import AdminKey, EnrolKey, ReadKey, Services, Svc, actor
from facewise.server.uploads import BodySpec, Parsed, body, openapi_body

router = APIRouter(prefix="/v1/collections", tags=["collections"])

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
FOLDER = "collections"
"""The folder of FACEWISE_HOME that holds one folder per collection."""

PHOTOS = BodySpec(PhotosBody, many="image")

_WHY = {
    400: "Invalid input: a collection name that is not 1-64 letters, digits, '_' or '-', a "
    "decision the collection refuses (a face in no cluster, a cluster merged with itself).",
    404: "No such collection, cluster or face.",
    409: "The name is another cluster's (merge the two), or the two clusters have different names.",
}


def _collection_name(
    name: Annotated[
        str,
        Path(
            description="The collection: 1-64 letters, digits, '_' or '-'.",
            examples=["family"],
        ),
    ],
) -> str:
    if not NAME.fullmatch(name):
        raise InvalidInput("a collection name is 1-64 letters, digits, '_' or '-'")
    return name


CollectionName = Annotated[str, Depends(_collection_name)]
ClusterId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A cluster id.", examples=[1])]
FaceId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A face id.", examples=[1])]


def _folder(svc: Services, name: str) -> FilePath:
    return FilePath(svc.settings.home) / FOLDER / name


@contextmanager
def _open(svc: Services, name: str, *, create: bool = False) -> Iterator[Collection]:
    """The collection ``name``, opened for this request (404 when absent, unless ``create``: a
    new one is made readable by its owner only)."""
    folder = _folder(svc, name)
    if create:
        private_file(folder / FILE)
    elif not (folder / FILE).is_file():
        raise NotFound(f"no collection {name!r}")
    with Collection(folder, svc.engine) as found:
        yield found


def _summary(name: str, coll: Collection, **extra: Any) -> dict[str, Any]:
    return {"name": name, **coll.summary(), **extra}


@router.get("", response_model=CollectionsOut, responses=errors(*AUTH))
def list_collections(key: ReadKey, svc: Svc) -> dict[str, Any]:
    """Every collection, by name, with its numbers of clusters (named ones too) and faces."""
    root = FilePath(svc.settings.home) / FOLDER
    rows = []
    names = (
        sorted(p.name for p in root.iterdir() if NAME.fullmatch(p.name)) if root.is_dir() else []
    )
    for name in names:
        if not (root / name / FILE).is_file():
            continue
        with _open(svc, name) as coll:
            summary = coll.summary()
        clusters = summary["clusters"]
        rows.append(
            {
                "name": name,
                "clusters": len(clusters),
                "named": sum(1 for c in clusters if c["name"]),
                "faces": sum(c["size"] for c in clusters) + len(summary["unclustered"]),
                "unclustered": len(summary["unclustered"]),
            }
        )
    return {"collections": rows}


@router.get("/{name}", response_model=CollectionOut, responses=errors(*AUTH, 400, 404, why=_WHY))
def get_collection(key: ReadKey, svc: Svc, name: CollectionName) -> dict[str, Any]:
    """The clusters (largest first, each with its faces and its best-quality face as
    ``cover``) and the unclustered faces."""
    with _open(svc, name) as coll:
        return _summary(name, coll)


@router.post(
    "/{name}/photos",
    response_model=PhotosOut,
    responses=errors(
        *IMAGE,
        409,
        why={400: _WHY[400], 409: "The collection holds vectors of another embedding space."},
    ),
    openapi_extra=openapi_body(PHOTOS),
)
def add_photos(
    key: EnrolKey,
    svc: Svc,
    name: CollectionName,
    parsed: Annotated[Parsed, Depends(body(PHOTOS))],
) -> dict[str, Any]:
    """Add photos (uploads only: up to 20 per request, the size limit applies to the whole
    request) and place their faces: into the clusters there are, into new ones, or unclustered
    (someone seen once). Creates the collection. A photo the collection has already is
    counted in ``photos_known``; one that cannot be read gets its own entry in
    ``added.errors`` and the others are still added."""
    with _open(svc, name, create=True) as coll:
        report = coll.add_photos([(u.label, u.data) for u in parsed.uploads["image"]]).as_dict()
        report["errors"] = [
            {
                "path": svc.scrub(e["path"]),
                "error": {k: svc.scrub(v) for k, v in e["error"].items()},
            }
            for e in report["errors"]
        ]
        return _summary(name, coll, added=report)


@router.get(
    "/{name}/faces/{face}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "A square JPEG around the face."},
        **errors(*AUTH, 400, 404, 422, why=_WHY),
    },
)
def thumbnail(key: ReadKey, svc: Svc, name: CollectionName, face: FaceId) -> Response:
    """The face's thumbnail (JPEG)."""
    with _open(svc, name) as coll:
        data = coll.thumbnail(face)
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


DECISION = errors(*AUTH, 400, 404, 409, 422, why=_WHY)


@router.post("/{name}/clusters/{cluster}/name", response_model=CollectionOut, responses=DECISION)
def name_cluster(
    key: EnrolKey, svc: Svc, name: CollectionName, cluster: ClusterId, change: NameClusterBody
) -> dict[str, Any]:
    """Name a cluster (the person's name rule); its faces are pinned there."""
    with _open(svc, name) as coll:
        coll.name(cluster, change.name, actor=actor(key))
        return _summary(name, coll)


@router.post("/{name}/clusters/{cluster}/merge", response_model=CollectionOut, responses=DECISION)
def merge_clusters(
    key: EnrolKey, svc: Svc, name: CollectionName, cluster: ClusterId, change: MergeClustersBody
) -> dict[str, Any]:
    """Move every face of ``other`` into this cluster; it keeps its name, or takes ``other``'s
    when it had none (409 when both are named differently)."""
    with _open(svc, name) as coll:
        coll.merge(cluster, change.other, actor=actor(key))
        return _summary(name, coll)


@router.post("/{name}/clusters/{cluster}/split", response_model=SplitOut, responses=DECISION)
def split_cluster(
    key: EnrolKey, svc: Svc, name: CollectionName, cluster: ClusterId, change: SplitBody
) -> dict[str, Any]:
    """Move some faces of a cluster into a new cluster (``new_cluster``); both are pinned."""
    with _open(svc, name) as coll:
        new = coll.split(cluster, change.faces, actor=actor(key))
        return _summary(name, coll, new_cluster=new)


@router.post("/{name}/faces/{face}/reject", response_model=CollectionOut, responses=DECISION)
def reject_face(key: EnrolKey, svc: Svc, name: CollectionName, face: FaceId) -> dict[str, Any]:
    """Take a face out of its cluster: it stays unclustered and never goes back there."""
    with _open(svc, name) as coll:
        coll.reject(face, actor=actor(key))
        return _summary(name, coll)


@router.post("/{name}/faces/{face}/confirm", response_model=CollectionOut, responses=DECISION)
def confirm_face(key: EnrolKey, svc: Svc, name: CollectionName, face: FaceId) -> dict[str, Any]:
    """Yes, the face belongs to its cluster: it is pinned there."""
    with _open(svc, name) as coll:
        coll.confirm(face, actor=actor(key))
        return _summary(name, coll)


@router.post("/{name}/faces/{face}/move", response_model=CollectionOut, responses=DECISION)
def move_face(
    key: EnrolKey, svc: Svc, name: CollectionName, face: FaceId, change: MoveBody
) -> dict[str, Any]:
    """Put a face into a cluster (pinned), lifting an earlier rejection from that cluster."""
    with _open(svc, name) as coll:
        coll.move(face, change.cluster, actor=actor(key))
        return _summary(name, coll)


@router.get(
    "/{name}/questions",
    response_model=QuestionsOut,
    responses=errors(*AUTH, 400, 404, 422, why=_WHY),
)
def questions(
    key: ReadKey,
    svc: Svc,
    name: CollectionName,
    limit: Annotated[int, Query(ge=1, le=200, description="Questions to return.")] = 20,
) -> dict[str, Any]:
    """What to ask next, most useful first: merge proposals (is unnamed cluster ``other`` the
    person of named cluster ``cluster``?) and yes/no questions about single faces, each with
    the probability of "yes" and the faces its answer is expected to name. Empty until a
    cluster is named; questions whose answer is all but sure are not asked."""
    with _open(svc, name) as coll:
        return {"name": name, **coll.suggest(limit=limit)}


@router.post("/{name}/questions/answer", response_model=CollectionOut, responses=DECISION)
def answer_question(
    key: EnrolKey, svc: Svc, name: CollectionName, change: AnswerBody
) -> dict[str, Any]:
    """Answer one question: "yes" puts the face into the cluster (or confirms it there) or
    merges ``other`` into it; "no" takes the face out, or keeps it (or ``other``) from ever
    going there. A "no" survives every later run."""
    with _open(svc, name) as coll:
        coll.answer(
            change.cluster,
            change.answer == "yes",
            face=change.face,
            other=change.other,
            actor=actor(key),
        )
        return _summary(name, coll)


@router.post("/{name}/recluster", response_model=CollectionOut, responses=DECISION)
def recluster(key: EnrolKey, svc: Svc, name: CollectionName) -> dict[str, Any]:
    """Cluster every face again, keeping every decision (pinned faces stay, rejected faces stay
    out); cluster ids stay where the grouping did."""
    with _open(svc, name) as coll:
        coll.recluster(actor=actor(key))
        return _summary(name, coll)


@router.post(
    "/{name}/clusters/{cluster}/enrol",
    status_code=201,
    response_model=EnrolledClusterOut,
    responses=DECISION,
)
def enrol_cluster(
    key: EnrolKey, svc: Svc, name: CollectionName, cluster: ClusterId, change: EnrolClusterBody
) -> dict[str, Any]:
    """Enrol a named cluster's faces into the gallery as samples of the person of that name
    (created when absent), with ``consent`` as the basis; identify finds them from then on."""
    with _open(svc, name) as coll:
        return coll.enrol(
            cluster,
            svc.gallery,
            consent=change.consent,
            expires_at=change.expires_at,
            actor=actor(key),
        )


@router.get(
    "/{name}/decisions", response_model=DecisionsOut, responses=errors(*AUTH, 400, 404, why=_WHY)
)
def decisions(key: AdminKey, svc: Svc, name: CollectionName) -> dict[str, Any]:
    """Every user decision on the collection, oldest first, with who made it (admin, as the
    audit log)."""
    with _open(svc, name) as coll:
        return {"decisions": coll.decisions()}
