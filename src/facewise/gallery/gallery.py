"""The Gallery: enrol people, identify faces 1:N open-set, forget people verifiably.

SQLite (:mod:`facewise.gallery.sqlite_store`) is the source of truth; the vector index
(:mod:`facewise.gallery.index`) is a cache file next to it, rebuilt when missing, stale or corrupt.
A gallery is bound to one embedding space (the first enrolment fixes it): vectors of another space
are refused with :class:`EmbeddingSpaceMismatch`, never mixed or skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from facewise import io
from facewise.calibration import NonMatedModel, nonmated_model
from facewise.engine import Engine, ImageSource
from facewise.errors import Conflict, FacewiseError, InvalidInput, PersonNotFound
from facewise.gallery.audit import base_name
from facewise.gallery.index import VectorIndex
from facewise.gallery.live import LiveIndex, best_people, mean_templates
from facewise.gallery.names import person_name
from facewise.gallery.records import (
    AuditEvent,
    NewSample,
    Person,
    SampleInfo,
    utc_now,
)
from facewise.gallery.results import (
    Candidate,
    Decision,
    EnrollResult,
    EnrolResult,
    Identification,
)
from facewise.gallery.samples import (
    face_quality,
    iso_time,
    label_of,
    read_bytes,
    sample_from,
    stored_source,
)
from facewise.gallery.stores import GalleryStore, open_store
from facewise.location import Location, parse_location
from facewise.settings import Settings, gallery_location
from facewise.types import Face

log = logging.getLogger(__name__)

Template = Literal["best", "mean"]


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
        self._lock = threading.RLock()  # one writer at a time; the live index shares it
        self._live = LiveIndex(
            self.store,
            self.location.index_path if self.home is not None else None,
            dim=self.engine.space.dim,
            lock=self._lock,
        )

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
            self._live.save()
            self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the index cache --------------------------------------------------------------------------

    def index(self) -> VectorIndex:
        """The in-memory index of the live (unexpired) samples (:class:`LiveIndex`)."""
        return self._live.current().index

    def rebuild_index(self) -> int:
        """Rebuild the index from the store, rewriting its cache file; returns its size."""
        return self._live.rebuild()

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
        liveness: bool = False,
    ) -> EnrollResult:
        """Enroll one face from each image (paths, uploaded bytes, arrays). Skipped, with the
        reason: an image given twice, one this person has already (same bytes), one without
        exactly one face (with ``largest``, its largest face is used), one that cannot be read.
        ``labels`` name the images in ``skipped`` (default: the file's name, or ``image[i]``).

        A person who exists when the call begins gets the samples only if they still exist,
        under that name, when the samples are stored (:class:`PersonNotFound` otherwise: an
        enrolment never brings back a person forgotten meanwhile); a new name is created, and
        with ``new`` the name must be free (:class:`Conflict`, decided again in the write).
        With ``liveness``, a face the bundled PAD model judges an attack is refused (skipped
        with code ``presentation_attack``).
        A sample's stored source is ``source``, else the file's base name (never a folder)."""
        found = self.store.person(person)
        if new and found is not None:
            raise Conflict(
                f"a person named {found.name!r} exists already; add samples to them instead"
            )
        person = found.name if found is not None else person_name(person)
        samples, skipped, kept, seen = [], [], [], set()
        for i, item in enumerate(images):
            label = labels[i] if labels is not None else label_of(item, i, len(images))
            try:
                data = read_bytes(item, self.engine)
                digest = io.image_sha256(data)
                if digest in seen:
                    skipped.append({"image": label, "reason": "the same image twice in a request"})
                    continue
                seen.add(digest)
                if found is not None and self.store.has_image(person, digest):
                    skipped.append({"image": label, "reason": "already enrolled"})
                    continue
                samples.append(
                    self.sample_from(
                        data,
                        digest,
                        source or base_name(label),
                        largest=largest,
                        liveness=liveness,
                    )
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
        return self.enroll(
            person,
            images,
            consent=consent,
            actor=enrolled_by,
            source=source,
            expires_at=expires_at,
            largest=largest,
        )

    def sample_from(
        self,
        data: bytes,
        digest: str,
        source: str,
        *,
        largest: bool = False,
        liveness: bool = False,
    ) -> NewSample:
        """The one face of an enrolment photo as a sample (:func:`samples.sample_from`)."""
        return sample_from(self.engine, data, digest, source, largest=largest, liveness=liveness)

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
            expires_at = iso_time(expires_at)
        samples = [replace(s, source=stored_source(s.source)) for s in samples]
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
            if ids and expires_at is None and self.store.generation() == before + 1:
                self._live.added(
                    person,
                    np.array(ids, dtype=np.int64),
                    np.stack([s.vector for s in kept]),
                    owner=getattr(ids, "person_id", None),
                    before=before,
                )
        return EnrollResult(person_name(person) if person_id is None else person, len(ids), skipped)

    # --- identification ---------------------------------------------------------------------------

    def identify(
        self, source: ImageSource, *, top: int = 5, actor: str | None = None
    ) -> list[Identification]:
        """Every face in the image against the gallery, best candidates first. With ``actor``,
        the search is written to the audit log (the image's sha256, never its path or pixels)."""
        data = read_bytes(source, self.engine) if actor is not None else None
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
            self.store.audit(
                actor,
                "identify",
                "*",
                {
                    "image": f"sha256:{image_sha256}" if image_sha256 else None,
                    "faces": len(found),
                    "accepted": sorted({r.person for r in found if r.person}),
                },
            )
        return found

    def model(self) -> NonMatedModel:
        """The calibrated non-mated score model of the engine's embedding space."""
        return nonmated_model(self.engine.space)

    def threshold(self) -> float:
        """The acceptance threshold for this gallery as it is now (its people, their samples,
        the template rule) at the target ``fpir``. A gallery of another space says so first
        (:class:`EmbeddingSpaceMismatch`), before whether this space is calibrated."""
        self.store.check_space(self.engine.space)
        shape = self._live.current().shape
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
        view = self._live.current()
        index, counts, shape = view.index, view.counts, view.shape
        if len(index) == 0:
            return [[] for _ in queries], [[] for _ in queries], shape
        best_rows = best_people(
            index, view.owners, view.templates, queries, top=top, template=self.template
        )
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
            for p in (
                db,
                db.with_name(db.name + "-wal"),
                db.with_name(db.name + "-shm"),
                self.location.index_path,
            ):
                if p is not None and p.is_file():
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


__all__ = [
    "Candidate",
    "Decision",
    "EnrolResult",
    "EnrollResult",
    "Gallery",
    "Identification",
    "face_quality",
    "mean_templates",
    "utc_now",
]
