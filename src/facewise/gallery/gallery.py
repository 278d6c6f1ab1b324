"""The Gallery: enrol people, identify faces 1:N open-set, forget people verifiably.

SQLite (:mod:`facewise.gallery.sqlite_store`) is the source of truth; the vector index
(:mod:`facewise.gallery.index`) is a cache file next to it, rebuilt when missing, stale or corrupt.
A gallery is bound to one embedding space (the first enrolment fixes it): vectors of another space
are refused with :class:`EmbeddingSpaceMismatch`, never mixed or skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from facewise import io
from facewise.calibration import NonMatedModel, nonmated_model
from facewise.engine import Engine, ImageSource
from facewise.errors import Conflict, FacewiseError, InvalidInput, NoFaceFound, PersonNotFound
from facewise.gallery.audit import base_name, safe_text
from facewise.gallery.index import VectorIndex, build_index, load_index, save_index
from facewise.gallery.names import person_name
from facewise.gallery.records import (
    AuditEvent,
    NewSample,
    Person,
    SampleInfo,
    parse_time,
    utc_now,
)
from facewise.gallery.stores import GalleryStore, LocalStore, SearchingStore, open_store
from facewise.location import Location, parse_location
from facewise.settings import Settings, gallery_location
from facewise.types import Face

log = logging.getLogger(__name__)

Template = Literal["best", "mean"]


@dataclass(frozen=True, slots=True)
class Candidate:
    person: str
    score: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The open-set answer for one probe vector, with what its score means.

    ``threshold`` is the score the best candidate must reach so that at most ``fpir`` of
    strangers searched against *this* gallery (``gallery_size`` people, their samples, the
    template rule) would be accepted. ``fmr``: how often one comparison with a stranger scores at
    least the best candidate's score; ``fpir_at_score``: how often a stranger's best match in
    this gallery does (both from the calibration; None without candidates)."""

    candidates: list[Candidate]
    threshold: float
    fpir: float
    gallery_size: int
    fmr: float | None
    fpir_at_score: float | None

    @property
    def score(self) -> float | None:
        return self.candidates[0].score if self.candidates else None

    @property
    def accepted(self) -> bool:
        return bool(self.candidates) and self.candidates[0].score >= self.threshold

    @property
    def person(self) -> str | None:
        return self.candidates[0].person if self.accepted else None


@dataclass(frozen=True, slots=True, eq=False)
class Identification:
    """One probe face: the best candidates and the open-set decision."""

    face: Face
    decision: Decision

    @property
    def candidates(self) -> list[Candidate]:
        return self.decision.candidates

    @property
    def threshold(self) -> float:
        return self.decision.threshold

    @property
    def accepted(self) -> bool:
        return self.decision.accepted

    @property
    def person(self) -> str | None:
        return self.decision.person


@dataclass(frozen=True, slots=True)
class EnrollResult:
    person: str
    enrolled: int
    skipped: list[dict[str, str]] = field(default_factory=list)


EnrolResult = EnrollResult
"""The old spelling."""


def face_quality(face: Face) -> float:
    """Provisional sample quality in [0, 1] from face size (a face 112 px or wider scores 1)."""
    return float(np.clip(min(face.bbox.width, face.bbox.height) / 112.0, 0.05, 1.0))


class Gallery:
    def __init__(
        self,
        location: Path | str | Location,
        engine: Engine | None = None,
        *,
        template: Template = "mean",
        fpir: float = 0.01,
    ) -> None:
        """A gallery at ``location``: a folder, ``sqlite:///file``, ``milvus://host:port`` or
        ``milvus-lite:///file.db`` (:mod:`facewise.location`)."""
        self.location = location if isinstance(location, Location) else parse_location(location)
        self.engine = engine or Engine()
        if template not in ("best", "mean"):
            raise InvalidInput(f"template must be 'best' or 'mean', got {template!r}")
        if not 0.0 < fpir < 1.0:
            raise InvalidInput(f"fpir must be between 0 and 1, got {fpir:g}")
        self.template = template
        self.fpir = fpir
        self.store: GalleryStore = open_store(self.location)
        # a local database keeps the index cache beside it; a Milvus store searches itself and
        # needs no local index. ``home``: the folder of a local gallery (None on Milvus).
        local = self.location.local and self.location.path is not None
        self.home = self.location.path.parent if local and self.location.path else None
        self._index_path = self.location.index_path or Path("index.bin")
        self._lock = threading.RLock()
        self._index: VectorIndex | None = None
        self._generation = -1
        self._owners: dict[int, int] = {}
        self._templates: dict[int, npt.NDArray[np.float32]] = {}
        self._shape: dict[int, int] = {}  # samples per person -> people (the live gallery)
        self._counts: dict[int, int] = {}  # person id -> live samples (local index)
        self._next_expiry: str | None = None  # the index is stale from this time on
        self._dirty = False

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine | None = None) -> Gallery:
        """The gallery that ``settings`` name (``gallery``, else the one in ``home``), with
        their template rule and target FPIR."""
        return cls(
            gallery_location(settings),
            engine or Engine(settings),
            template=settings.template,  # type: ignore[arg-type]
            fpir=settings.fpir,
        )

    def close(self) -> None:
        with self._lock:
            if self._dirty and self._index is not None and self.home is not None:
                save_index(
                    self._index,
                    self._index_path,
                    generation=self._generation,
                    space_key=self._space_key(),
                )
                self._dirty = False
            self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the index cache --------------------------------------------------------------------------

    def _space_key(self) -> str:
        space = self.store.space()
        return (
            "none"
            if space is None
            else hashlib.sha256(json.dumps(space.as_dict(), sort_keys=True).encode()).hexdigest()[
                :16
            ]
        )

    def index(self) -> VectorIndex:
        """The in-memory index of the live (unexpired) samples, reloaded from the cache file or
        rebuilt from the store when the store changed or a sample expired since it was built."""
        with self._lock:
            generation = self.store.generation()
            now = utc_now()
            if (
                self._index is not None
                and generation == self._generation
                and (self._next_expiry is None or now < self._next_expiry)
            ):
                return self._index
            store = self.store
            if isinstance(store, SearchingStore):  # Milvus searches and builds templates itself
                self._index = _StoreSearch(store, store.count(now=now), self.engine.space.dim)
                self._counts = {p.id: p.samples for p in store.people()}
                self._shape = _shape(self._counts.values())
                self._generation, self._next_expiry, self._dirty = generation, None, False
                return self._index
            assert isinstance(store, LocalStore)
            ids, owners, vectors, quality = store.vectors(now=now)
            dim = vectors.shape[1] if vectors.size else self.engine.space.dim
            key = self._space_key()
            index = load_index(self._index_path, generation=generation, space_key=key)
            if index is None or len(index) != len(ids):  # a sample expired: fewer live ids
                index = build_index(ids, vectors, dim=dim)
                save_index(index, self._index_path, generation=generation, space_key=key)
            self._owners = dict(zip(ids.tolist(), owners.tolist(), strict=True))
            self._templates = _mean_templates(owners, vectors, quality)
            self._count_samples()
            self._next_expiry = store.next_expiry(now=now)
            self._index, self._generation, self._dirty = index, generation, False
            return index

    def _count_samples(self) -> None:
        """Live samples per person and the gallery's shape, from the index's owners."""
        pids, n = np.unique(np.fromiter(self._owners.values(), dtype=np.int64), return_counts=True)
        self._counts = dict(zip(pids.tolist(), n.tolist(), strict=True))
        self._shape = _shape(n.tolist())

    def rebuild_index(self) -> int:
        with self._lock:
            if self.home is not None:
                self._index_path.unlink(missing_ok=True)
            self._index = None
            return len(self.index())

    # --- enrolment --------------------------------------------------------------------------------

    def enroll(
        self,
        person: str,
        images: Sequence[ImageSource],
        *,
        consent: str,
        actor: str,
        labels: Sequence[str] | None = None,
        source: str | None = None,
        expires_at: str | None = None,
        largest: bool = False,
        new: bool = False,
    ) -> EnrollResult:
        """Enroll one face from each image (paths, uploaded bytes, arrays). Skipped, with the
        reason: an image given twice, one this person has already (same bytes), one without
        exactly one face (with ``largest``, its largest face is used), one that cannot be read.
        ``labels`` name the images in ``skipped`` (default: the file's name, or ``image[i]``).

        A person who exists when the call begins gets the samples only if they still exist,
        under that name, when the samples are stored (:class:`PersonNotFound` otherwise: an
        enrolment never brings back a person forgotten meanwhile); a new name is created, and
        with ``new`` the name must be free (:class:`Conflict`, decided again in the write).
        A sample's stored source is ``source``, else the file's base name (never a folder)."""
        found = self.store.person(person)
        if new and found is not None:
            raise Conflict(f"a person named {found.name!r} exists already; add samples to "
                           "them instead")
        person = found.name if found is not None else person_name(person)
        samples, skipped, kept, seen = [], [], [], set()
        for i, item in enumerate(images):
            label = labels[i] if labels is not None else _label(item, i, len(images))
            try:
                data = _read_bytes(item, self.engine)
                digest = io.image_sha256(data)
                if digest in seen:
                    skipped.append({"image": label, "reason": "the same image twice in a request"})
                    continue
                seen.add(digest)
                if found is not None and self.store.has_image(person, digest):
                    skipped.append({"image": label, "reason": "already enrolled"})
                    continue
                samples.append(
                    self.sample_from(data, digest, source or base_name(label), largest=largest)
                )
                kept.append(label)
            except FacewiseError as exc:
                skipped.append({"image": label, "reason": exc.message, "code": exc.code})
        return self.add_samples(
            person,
            samples,
            skipped,
            consent=consent,
            expires_at=expires_at,
            enrolled_by=actor,
            new_person=new,
            person_id=found.id if found is not None else None,
            labels=kept,
        )

    def enrol(
        self,
        person: str,
        images: Sequence[ImageSource],
        *,
        consent: str,
        source: str | None = None,
        expires_at: str | None = None,
        enrolled_by: str = "cli",
        largest: bool = False,
    ) -> EnrollResult:
        """The old spelling of :meth:`enroll` (``enrolled_by`` is its ``actor``)."""
        return self.enroll(person, images, consent=consent, actor=enrolled_by, source=source,
                           expires_at=expires_at, largest=largest)

    def sample_from(
        self, data: bytes, digest: str, source: str, *, largest: bool = False
    ) -> NewSample:
        image = self.engine.load_image(data)
        faces = self.engine.embed_detections(image, self.engine.detector.detect(image))
        if not faces:
            raise NoFaceFound(f"no face found in {source}")
        if len(faces) > 1 and not largest:
            raise InvalidInput(
                f"{source} shows {len(faces)} faces; enrol photos of one person "
                "(or pass largest=True / --largest)"
            )
        face = max(faces, key=lambda f: f.bbox.area)
        assert face.embedding is not None
        floor = self.engine.settings.min_quality
        if floor > 0:
            quality = self.engine.analyzer("quality").analyze(image, face.detection)["quality"]
            if quality < floor:
                raise InvalidInput(
                    f"{source}: face quality {quality:.2f} is below min_quality {floor:.2f}"
                )
        b = face.bbox
        quality = face_quality(face)
        return NewSample(face.embedding.vector, digest, source, quality, (b.x1, b.y1, b.x2, b.y2))

    def add_samples(
        self,
        person: str,
        samples: list[NewSample],
        skipped: list[dict[str, str]],
        *,
        consent: str,
        expires_at: str | None,
        enrolled_by: str,
        new_person: bool = False,
        person_id: int | None = None,
        labels: Sequence[str] | None = None,
    ) -> EnrollResult:
        """Store prepared samples for ``person``; with ``new_person`` the name must be free
        (:class:`~facewise.errors.Conflict` otherwise, decided atomically by the store). With
        ``person_id`` (looked up when the caller's work began; else looked up now) the samples
        go to that person only if they still exist under ``person`` when the store writes
        (:class:`~facewise.errors.PersonNotFound` otherwise): forgetting, removing, renaming or
        merging a person while their samples are being prepared never brings them back or
        splits them. Samples whose image the person got meanwhile (a concurrent upload of the
        same photo) are skipped as "already enrolled"; ``labels`` name the samples in
        ``skipped`` (default: their sources)."""
        if expires_at is not None:
            expires_at = _iso(expires_at)
        samples = [replace(s, source=_stored_source(s.source)) for s in samples]
        with self._lock:
            if person_id is None and not new_person:
                found = self.store.person(person)
                if found is not None:
                    person, person_id = found.name, found.id
            self.store.check_space(self.engine.space)
            before = self.store.generation()
            ids = self.store.add_samples(
                person,
                self.engine.space,
                samples,
                consent=consent,
                enrolled_by=enrolled_by,
                expires_at=expires_at,
                new=new_person,
                **({"person_id": person_id} if person_id is not None else {}),
            )
            dropped = set(getattr(ids, "dropped", ()))
            names = list(labels) if labels is not None else [s.source for s in samples]
            skipped = [
                *skipped,
                *({"image": names[i], "reason": "already enrolled"} for i in sorted(dropped)),
            ]
            kept = [s for i, s in enumerate(samples) if i not in dropped]
            # the in-memory index takes this process's own enrolment directly, except samples
            # that expire (the rebuild applies expiry) and on a store that searches itself
            if (
                ids
                and expires_at is None
                and self.home is not None
                and self._index is not None
                and self._generation == before
                and self.store.generation() == before + 1
            ):
                self._add_to_index(
                    person,
                    np.array(ids, dtype=np.int64),
                    np.stack([s.vector for s in kept]),
                    owner=getattr(ids, "person_id", None),
                )
        return EnrollResult(person_name(person) if person_id is None else person, len(ids),
                           skipped)

    def _add_to_index(
        self,
        person: str,
        ids: npt.NDArray[np.int64],
        vectors: npt.NDArray[np.float32],
        *,
        owner: int | None = None,
    ) -> None:
        """Apply this process's own enrolment to the in-memory index instead of rebuilding; the
        cache file is rewritten on close (until then it is stale and would be rebuilt). If the
        person ``owner`` is no longer called ``person`` (renamed by another writer since the
        samples were stored; a rename leaves the vectors, hence the generation, as they are),
        the index is dropped and rebuilt on next use instead."""
        assert self._index is not None
        if owner is None:
            found = self.store.person(person)
            owner = found.id if found is not None else None
        if owner is None or self.store.names([owner]).get(owner) != person:
            self._index = None
            return
        self._index.add(ids, vectors)  # a local index only: see add_samples
        self._owners.update(dict.fromkeys(ids.tolist(), owner))
        _, owners, vecs, quality = self.store.vectors(person=person)
        self._templates.update(_mean_templates(owners, vecs, quality))
        self._count_samples()
        self._generation = self.store.generation()
        self._dirty = True

    # --- identification ---------------------------------------------------------------------------

    def identify(
        self, source: ImageSource, *, top: int = 5, actor: str | None = None
    ) -> list[Identification]:
        """Every face in the image against the gallery, best candidates first. With ``actor``,
        the search is written to the audit log (the image's sha256, never its path or pixels)."""
        data = _read_bytes(source, self.engine) if actor is not None else None
        faces = self.engine.embed(data if data is not None else source)
        digest = io.image_sha256(data) if data is not None else None
        return self.identify_faces(faces, top=top, actor=actor, image_sha256=digest)

    def identify_faces(
        self,
        faces: list[Face],
        *,
        top: int = 5,
        actor: str | None = None,
        image_sha256: str | None = None,
    ) -> list[Identification]:
        """:meth:`identify` for faces already embedded (in the engine's space)."""
        self.store.check_space(self.engine.space)
        embedded = [f for f in faces if f.embedding is not None]
        vectors = [f.embedding.vector for f in embedded if f.embedding is not None]
        decisions = self.decide(np.stack(vectors), top=top) if vectors else []
        found = [Identification(f, d) for f, d in zip(embedded, decisions, strict=True)]
        if actor is not None:
            self.store.audit(actor, "identify", "*", {
                "image": f"sha256:{image_sha256}" if image_sha256 else None,
                "faces": len(found),
                "accepted": sorted({r.person for r in found if r.person}),
            })
        return found

    def model(self) -> NonMatedModel:
        """The calibrated non-mated score model of the engine's embedding space."""
        return nonmated_model(self.engine.space)

    def threshold(self) -> float:
        """The acceptance threshold for this gallery as it is now (its people, their samples,
        the template rule) at the target ``fpir``."""
        with self._lock:
            self.index()
            shape = dict(self._shape)
        return self.model().threshold(self.fpir, shape, template=self.template)

    def decide(self, queries: npt.NDArray[np.float32], *, top: int = 5) -> list[Decision]:
        """Open-set decisions for query vectors (Q, D) float32, L2-normalised, of the engine's
        space: candidates by the template rule, and the threshold that holds ``fpir`` for this
        gallery's size and shape."""
        if top < 1:
            raise InvalidInput("top must be at least 1")
        model = self.model()
        ranked, samples, shape = self._rank(queries, top=top)
        threshold = model.threshold(self.fpir, shape, template=self.template)
        people = sum(shape.values())
        out = []
        for row, counts in zip(ranked, samples, strict=True):
            fmr = fpir_at = None
            if row:
                best = row[0].score
                fmr = model.fmr(best, template=self.template, samples=counts[0])
                fpir_at = model.fpir(best, shape, template=self.template)
            out.append(Decision(row, threshold, self.fpir, people, fmr, fpir_at))
        return out

    def rank(self, queries: npt.NDArray[np.float32], *, top: int = 5) -> list[list[Candidate]]:
        """For each query vector (Q, D), the top people by the gallery's template rule."""
        return self._rank(queries, top=top)[0]

    def _rank(
        self, queries: npt.NDArray[np.float32], *, top: int
    ) -> tuple[list[list[Candidate]], list[list[int]], dict[int, int]]:
        """(candidates per query, each candidate's live sample count, the gallery's shape)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        with self._lock:
            index = self.index()
            owners, templates, shape = self._owners, self._templates, dict(self._shape)
            counts = self._counts
        if len(index) == 0:
            return [[] for _ in queries], [[] for _ in queries], shape
        depth = min(len(index), max(4 * top, 32))
        if isinstance(index, _StoreSearch):  # Milvus: owners come with the hits
            scores, _, hit_owners = index.search_owners(queries, depth)
        else:
            scores, ids = index.search(queries, depth)
            hit_owners = np.array(
                [[owners.get(i, -1) for i in row] for row in ids.tolist()], dtype=np.int64
            ).reshape(ids.shape)
        best_rows: list[dict[int, float]] = []
        for row_scores, row_owners in zip(scores.tolist(), hit_owners.tolist(), strict=True):
            best: dict[int, float] = {}
            for sc, pid in zip(row_scores, row_owners, strict=True):
                if pid >= 0:
                    best[pid] = max(best.get(pid, -2.0), sc)
            best_rows.append(best)
        if self.template == "mean" or isinstance(index, _StoreSearch):
            if isinstance(index, _StoreSearch):
                templates = index.templates(sorted({pid for b in best_rows for pid in b}))
            for q, best in zip(queries, best_rows, strict=True):
                for pid in list(best):
                    if pid not in templates:  # its samples expired or left since the search
                        del best[pid]
                    elif self.template == "mean":
                        best[pid] = float(q @ templates[pid])
        ranked = [sorted(b.items(), key=lambda kv: -kv[1])[:top] for b in best_rows]
        names = self.store.names(pid for row in ranked for pid, _ in row)
        candidates = [
            [Candidate(names[pid], round(sc, 6)) for pid, sc in row if pid in names]
            for row in ranked
        ]
        samples = [[counts.get(pid, 1) for pid, _ in row if pid in names] for row in ranked]
        return candidates, samples, shape

    # --- people -----------------------------------------------------------------------------------

    def people(self) -> list[Person]:
        return self.store.people()

    def person(self, name: str) -> Person | None:
        """The person called ``name`` (in any normal form of it), or None."""
        return self.store.person(name)

    def require(self, name: str) -> Person:
        """The person called ``name``; :class:`PersonNotFound` (404, exit 9) when there is none."""
        found = self.store.person(name)
        if found is None:
            raise PersonNotFound(f"no person named {name!r} in the gallery")
        return found

    def samples_of(self, name: str) -> list[SampleInfo]:
        """Consent and provenance of each of a person's samples (never the vectors)."""
        return self.store.samples_of(self.require(name).name)

    def events(self, *, since: int = 0, limit: int | None = None) -> list[AuditEvent]:
        """The audit log, oldest first (``since``: after that sequence number)."""
        return self.store.events(since=since, limit=limit)

    def rename(self, old: str, new: str, *, actor: str) -> Person:
        return self.store.rename(old, new, actor=actor)

    def merge(self, source: str, target: str, *, actor: str) -> Person:
        return self.store.merge(source, target, actor=actor)

    def remove(self, person: str, *, actor: str) -> int:
        return len(self.store.remove_person(person, actor=actor))

    def purge_expired(self, *, actor: str) -> int:
        removed = self.store.purge_expired(actor=actor)
        if removed:
            self.store.compact()
        return len(removed)

    def stats(self) -> dict[str, Any]:
        index = self.index()
        space = self.store.space()
        files = {}
        if self.location.path is not None and self.location.local:
            db = self.location.path
            for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"),
                      self._index_path):
                if p.is_file():
                    files[p.name] = p.stat().st_size
        return {
            "home": str(self.location),
            "people": len(self.store.people()),
            "samples": len(index),
            "space": space.as_dict() if space else None,
            "index": {"kind": index.kind, "size": len(index)},
            "template": self.template,
            "files": files,
            "audit_events": len(self.store.events()),
        }

    # --- forgetting -------------------------------------------------------------------------------

    def forget(self, person: str, *, actor: str) -> dict[str, Any]:
        """Erase a person: samples, vectors, index entries; vacuum; re-probe; write a receipt."""
        from facewise.gallery.forget import forget

        return forget(self, person, actor=actor)


class _StoreSearch:
    """A store that searches and builds templates itself (Milvus), seen as an index by the
    gallery: expired samples are left out at query time, by the store's own filter."""

    kind = "store"

    def __init__(self, store: Any, size: int, dim: int) -> None:
        self.store, self.size, self.dim = store, size, dim

    def __len__(self) -> int:
        return self.size

    def add(self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        self.size += len(ids)

    def remove(self, ids: npt.NDArray[np.int64]) -> int:
        self.size -= len(ids)
        return len(ids)

    def search(
        self, queries: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        scores, ids, _ = self.search_owners(queries, k)
        return scores, ids

    def search_owners(
        self, queries: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(scores, sample ids, person ids), each (Q, k); -1 ids pad."""
        found: tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64]] = (
            self.store.search(queries, k, now=utc_now())
        )
        return found

    def templates(self, people: list[int]) -> dict[int, npt.NDArray[np.float32]]:
        """Mean templates of ``people`` from their live samples, read from the store."""
        templates: dict[int, npt.NDArray[np.float32]] = self.store.templates(
            people, now=utc_now()
        )
        return templates


def _shape(counts: Any) -> dict[int, int]:
    """Samples per person -> number of people with that many."""
    out: dict[int, int] = {}
    for n in counts:
        if n > 0:
            out[int(n)] = out.get(int(n), 0) + 1
    return out


def _mean_templates(
    owners: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
    quality: npt.NDArray[np.float32],
) -> dict[int, npt.NDArray[np.float32]]:
    """Per person: the quality-weighted mean of their sample vectors, L2-normalised."""
    if not len(owners):
        return {}
    order = np.argsort(owners, kind="stable")
    owners, vectors, quality = owners[order], vectors[order], quality[order]
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    sums = np.add.reduceat(vectors * quality[:, None], starts, axis=0)
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return {int(owners[s]): sums[i].astype(np.float32) for i, s in enumerate(starts)}


def _label(item: ImageSource, i: int, count: int) -> str:
    """How an image is named in ``skipped``: a file by its path as given, else image[i]."""
    if isinstance(item, str | os.PathLike):
        return safe_text(os.fsdecode(item))
    return "image" if count == 1 else f"image[{i}]"


def _read_bytes(item: ImageSource, engine: Engine) -> bytes:
    """The encoded bytes of an image source (to hash it for provenance and resumable enrolment)."""
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, str | os.PathLike):
        return io.read_file(item, settings=engine.settings)
    if isinstance(item, np.ndarray):
        return io.load_image(item, settings=engine.settings).tobytes()
    raise InvalidInput(f"cannot enrol from {type(item).__name__}: give a path or image bytes")


def _iso(value: str) -> str:
    """A date or datetime as the store's ISO UTC form (YYYY-MM-DDTHH:MM:SSZ, four-digit year);
    :class:`InvalidInput` for anything else, however extreme."""
    return parse_time(value)


def _stored_source(source: str) -> str:
    """A sample's source as stored: valid UTF-8, and a file path (absolute, home-relative or
    with a drive letter) reduced to its base name, so no server folder is ever stored."""
    text = safe_text(source)
    if text.startswith(("/", "~", "./", "../", ".\\", "..\\")) or (
        len(text) > 2 and text[1] == ":" and text[2] in "/\\"
    ):
        return base_name(text)
    return text


__all__ = ["Candidate", "EnrolResult", "Gallery", "Identification", "utc_now"]
