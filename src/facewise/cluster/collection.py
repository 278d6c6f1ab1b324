"""A photo collection organised by person: add photos, cluster their faces, name the clusters.

:class:`Collection` is the one way in, for the CLI and the service alike. Adding photos stores
every face (content-hashed: a photo already there is not read again, an unchanged path is not
even hashed), then places the new faces: into existing clusters, into new ones, or left
unclustered (someone seen once). Earlier placements stay as they are, so adding photos never
reshuffles what a user has looked at; :meth:`Collection.recluster` starts over, keeping every user
decision. User decisions (name, merge, split, reject, confirm, move) pin faces: no automatic run
ever moves a pinned face or puts a rejected face back.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise import io
from facewise.cluster.scan import ScannedPhoto, faces_of, scan_file
from facewise.cluster.store import CollectionStore, FaceRow, now
from facewise.errors import Conflict, FacewiseError, InvalidInput, NotFound
from facewise.gallery.names import person_name

log = logging.getLogger(__name__)

BATCH = 32
"""Photos written per transaction while adding."""


@dataclass(slots=True)
class AddReport:
    photos_added: int = 0
    photos_known: int = 0
    faces_added: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "photos_added": self.photos_added,
            "photos_known": self.photos_known,
            "faces_added": self.faces_added,
            "errors": self.errors,
        }


class Collection:
    """One collection folder (``collection.sqlite`` inside) and the engine that embeds for it."""

    def __init__(self, folder: str | Path, engine: Any) -> None:
        self.engine = engine
        self.space = engine.space
        self.records = CollectionStore(folder)

    def close(self) -> None:
        self.records.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- adding photos ------------------------------------------------------------------------

    def add_paths(
        self,
        paths: Sequence[str],
        *,
        workers: int = 1,
        progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
    ) -> AddReport:
        """Add the photos at ``paths`` (files; see :func:`facewise.gallery.batch.expand_images`
        for folders) and place their faces. A path that cannot be read or decoded is reported
        in :attr:`AddReport.errors` and the rest go on."""
        from facewise.gallery.batch import map_files

        report = AddReport()
        todo: list[tuple[str, int, int]] = []
        for path in paths:
            try:
                st = os.stat(path)
            except OSError as exc:
                report.errors.append(_error(path, InvalidInput(f"cannot read: {exc.strerror}")))
                continue
            if self.records.known_path(path, st.st_size, st.st_mtime_ns):
                report.photos_known += 1
            else:
                todo.append((path, st.st_size, st.st_mtime_ns))
        fresh: list[tuple[str, int, int]] = []
        for path, size, mtime in todo:  # a known photo at a new path: record, don't embed
            try:
                digest = io.image_sha256(io.read_file(path, settings=self.engine.settings))
            except FacewiseError as exc:
                report.errors.append(_error(path, exc))
                continue
            photo = self.records.photo_id(digest)
            if photo is None:
                fresh.append((path, size, mtime))
                continue
            with self.records.write() as db:
                _record_path(db, path, photo, size, mtime)
            report.photos_known += 1
        results = map_files(scan_file, self.engine, [p for p, _, _ in fresh], workers=workers)
        batch: list[tuple[str, ScannedPhoto, int, int]] = []
        items = zip(fresh, results, strict=True)
        for (path, size, mtime), found in progress(items, len(fresh)) if progress else items:
            if isinstance(found, FacewiseError):
                report.errors.append(_error(path, found))
                continue
            batch.append((path, found, size, mtime))
            if len(batch) >= BATCH:
                self._insert(batch, report)
                batch = []
        self._insert(batch, report)
        self.place()
        return report

    def add_photos(self, photos: Sequence[tuple[str, bytes]]) -> AddReport:
        """Add uploaded photos, each ``(label, bytes)``; the label is what the collection shows
        as the photo's path (an upload's file name). Nothing is read from the file system."""
        report = AddReport()
        batch: list[tuple[str, ScannedPhoto, int, int]] = []
        for label, data in photos:
            if self.records.photo_id(io.image_sha256(data)) is not None:
                report.photos_known += 1
                continue
            try:
                batch.append((label, faces_of(self.engine, data), -1, -1))
            except FacewiseError as exc:
                report.errors.append(_error(label, exc))
        self._insert(batch, report)
        self.place()
        return report

    def add_scanned(
        self,
        found: Iterable[tuple[str, ScannedPhoto | FacewiseError]],
        *,
        knn: Callable[..., Any] | None = None,
    ) -> AddReport:
        """Add photos scanned elsewhere (``(label, ScannedPhoto or the error)``, e.g. by the
        workers of a Ray cluster: :mod:`facewise.cluster.distributed`) and place their faces; a
        first clustering builds its kNN graph with ``knn`` (default
        :func:`facewise.cluster.knn.knn`)."""
        report = AddReport()
        batch: list[tuple[str, ScannedPhoto, int, int]] = []
        for label, photo in found:
            if isinstance(photo, FacewiseError):
                report.errors.append(_error(label, photo))
                continue
            batch.append((label, photo, -1, -1))
            if len(batch) >= BATCH:
                self._insert(batch, report)
                batch = []
        self._insert(batch, report)
        self.place(knn=knn)
        return report

    def _insert(self, batch: list[tuple[str, ScannedPhoto, int, int]], report: AddReport) -> None:
        if not batch:
            return
        with self.records.write() as db:
            self.records.bind_space(db, self.space)
            for path, photo, size, mtime in batch:
                if self.records.photo_id(photo.sha256) is not None:  # the same bytes twice
                    report.photos_known += 1
                    continue
                cur = db.execute(
                    "INSERT INTO photos(sha256, path, width, height, added_at) "
                    "VALUES(?, ?, ?, ?, ?)",
                    (photo.sha256, path, photo.width, photo.height, now()),
                )
                photo_id = int(cur.lastrowid or 0)
                if size >= 0:
                    _record_path(db, path, photo_id, size, mtime)
                db.executemany(
                    "INSERT INTO faces(photo_id, x1, y1, x2, y2, quality, vector, thumbnail) "
                    "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (photo_id, *f.bbox, f.quality, f.vector.tobytes(), f.thumbnail)
                        for f in photo.faces
                    ],
                )
                report.photos_added += 1
                report.faces_added += len(photo.faces)

    # --- clustering ---------------------------------------------------------------------------

    def fmr(self) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
        """Score -> how often a stranger scores that high: the space's calibration."""
        from facewise.calibration import nonmated_model

        return nonmated_model(self.space).table("mean", 1).fmr

    def place(self, *, knn: Callable[..., Any] | None = None) -> None:
        """Place every face no run has placed yet (all of them on a first run, its kNN graph
        built by ``knn`` when given)."""
        from facewise.cluster.algorithm import cluster_vectors, extend
        from facewise.cluster.knn import knn as default_knn

        with self.records.write() as db:
            state = self._state()
            new = ~state.placed
            if not new.any():
                return
            if not state.placed.any():
                labels = cluster_vectors(
                    state.vectors,
                    fmr=self.fmr(),
                    fixed=state.fixed(),
                    cannot_link=state.cannot_link(),
                    knn_graph=knn or default_knn,
                )
                order = np.arange(len(state.ids))
                keep = {c: c for c in state.fixed().values()}
            else:
                order = np.concatenate([np.flatnonzero(state.placed), np.flatnonzero(new)])
                where = np.empty_like(order)
                where[order] = np.arange(len(order))
                pairs = [(int(where[a]), int(where[b])) for a, b in state.cannot_link()]
                labels = extend(
                    state.vectors[state.placed],
                    state.labels[state.placed],
                    state.vectors[new],
                    fmr=self.fmr(),
                    cannot_link=pairs,
                )
                keep = {c: c for c in state.labels[state.placed].tolist() if c >= 0}
            self._write_labels(db, state.ids[order], labels, keep)
            db.execute("UPDATE faces SET placed = 1 WHERE placed = 0")

    def recluster(self, *, actor: str) -> None:
        """Cluster every face again from scratch, keeping every user decision (pinned faces
        stay, rejected faces stay out); a new cluster takes the id of the old one it overlaps
        most, so ids stay put where the grouping did."""
        from facewise.cluster.algorithm import cluster_vectors

        with self.records.write() as db:
            state = self._state()
            if not len(state.ids):
                return
            labels = cluster_vectors(
                state.vectors,
                fmr=self.fmr(),
                fixed=state.fixed(),
                cannot_link=state.cannot_link(),
            )
            pinned_ids = set(state.fixed().values())
            overlap: Counter[tuple[int, int]] = Counter()
            for new, old in zip(labels.tolist(), state.labels.tolist(), strict=True):
                if new >= 0 and new not in pinned_ids and old >= 0 and old not in pinned_ids:
                    overlap[(new, old)] += 1
            keep = {c: c for c in pinned_ids}
            for (new, old), _ in overlap.most_common():
                if new not in keep and old not in keep.values():
                    keep[new] = old
            self._write_labels(db, state.ids, labels, keep)
            db.execute("UPDATE faces SET placed = 1")
            self.records.decide(db, actor, "recluster")

    def _state(self) -> _State:
        ids, vectors = self.records.vectors(self.space.dim)
        rows = self.records.rows("SELECT id, photo_id, cluster_id, pinned, placed FROM faces")
        info = {r[0]: r[1:] for r in rows}
        photo = np.array([info[i][0] for i in ids.tolist()], dtype=np.int64)
        labels = np.array(
            [info[i][1] if info[i][1] is not None else -1 for i in ids.tolist()], dtype=np.int64
        )
        pinned = np.array([bool(info[i][2]) for i in ids.tolist()], dtype=bool)
        placed = np.array([bool(info[i][3]) for i in ids.tolist()], dtype=bool)
        return _State(ids, vectors, photo, labels, pinned, placed, self.records.rejections())

    def _write_labels(
        self,
        db: Any,
        face_ids: npt.NDArray[np.int64],
        labels: npt.NDArray[np.int64],
        keep: dict[int, int],
    ) -> None:
        """Store the clustering's ``labels`` of ``face_ids``: a label in ``keep`` is that
        existing cluster, -1 is unclustered, any other label a new cluster. Pinned faces are
        never moved."""
        made: dict[int, int] = {}
        updates: list[tuple[int | None, int]] = []
        for face, label in zip(face_ids.tolist(), labels.tolist(), strict=True):
            if label < 0:
                updates.append((None, face))
            elif label in keep:
                updates.append((keep[label], face))
            else:
                if label not in made:
                    made[label] = self.records.new_cluster(db)
                updates.append((made[label], face))
        db.executemany("UPDATE faces SET cluster_id = ? WHERE id = ? AND pinned = 0", updates)
        self.records.drop_empty_clusters(db)

    # --- reading ------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """``{"clusters": [...], "unclustered": [...]}``: clusters largest first, each with its
        faces (``path`` as given, ``bbox``, ``face`` id, ``quality``, ``pinned``) and its
        ``cover`` (the best-quality face)."""
        names = {c.id: c for c in self.records.clusters()}
        by_cluster: dict[int, list[FaceRow]] = defaultdict(list)
        alone = []
        for face in self.records.faces():
            if face.cluster_id is None:
                alone.append(face)
            else:
                by_cluster[face.cluster_id].append(face)
        clusters = []
        for cid, faces in sorted(by_cluster.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            cover = max(faces, key=lambda f: (f.quality, -f.id))
            row = names.get(cid)
            clusters.append(
                {
                    "id": cid,
                    "name": row.name if row else None,
                    "person": row.person if row else None,
                    "size": len(faces),
                    "cover": cover.id,
                    "faces": [_face_dict(f) for f in faces],
                }
            )
        return {"clusters": clusters, "unclustered": [_face_dict(f) for f in alone]}

    def thumbnail(self, face_id: int) -> bytes:
        found = self.records.thumbnail(face_id)
        if found is None:
            raise NotFound(f"no face {face_id} in this collection")
        return found

    def decisions(self) -> list[dict[str, Any]]:
        return self.records.decisions()

    # --- user decisions -----------------------------------------------------------------------

    def _face(self, face_id: int) -> FaceRow:
        found = self.records.faces("f.id = ?", (face_id,))
        if not found:
            raise NotFound(f"no face {face_id} in this collection")
        return found[0]

    def _cluster(self, cluster_id: int) -> None:
        if self.records.cluster(cluster_id) is None:
            raise NotFound(f"no cluster {cluster_id} in this collection")

    def name(self, cluster_id: int, name: str, *, actor: str) -> None:
        """Name a cluster; its faces are pinned (the user looked at them)."""
        name = person_name(name)
        self._cluster(cluster_id)
        with self.records.write() as db:
            taken = db.execute(
                "SELECT id FROM clusters WHERE name = ? AND id != ?", (name, cluster_id)
            ).fetchone()
            if taken:
                raise Conflict(
                    f"cluster {taken[0]} is already named {name!r}; merge the two instead"
                )
            db.execute("UPDATE clusters SET name = ? WHERE id = ?", (name, cluster_id))
            db.execute("UPDATE faces SET pinned = 1 WHERE cluster_id = ?", (cluster_id,))
            self.records.decide(db, actor, "name", cluster=cluster_id, name=name)

    def merge(self, into: int, other: int, *, actor: str) -> None:
        """Put every face of ``other`` into ``into`` (pinned); ``into`` keeps its name, or
        takes ``other``'s when it had none."""
        if into == other:
            raise InvalidInput("a cluster cannot be merged with itself")
        self._cluster(into)
        self._cluster(other)
        with self.records.write() as db:
            a, b = self.records.cluster(into), self.records.cluster(other)
            assert a is not None and b is not None
            if a.name and b.name and a.name != b.name:
                raise Conflict(
                    f"cluster {into} is {a.name!r} and cluster {other} is {b.name!r}; "
                    "rename one first if they are the same person"
                )
            db.execute(
                "UPDATE faces SET cluster_id = ?, pinned = 1 WHERE cluster_id IN (?, ?)",
                (into, into, other),
            )
            db.execute("UPDATE rejections SET cluster_id = ? WHERE cluster_id = ?", (into, other))
            db.execute("DELETE FROM clusters WHERE id = ?", (other,))
            if not a.name and b.name:
                db.execute("UPDATE clusters SET name = ? WHERE id = ?", (b.name, into))
            self.records.decide(db, actor, "merge", into=into, other=other)

    def split(self, cluster_id: int, faces: Sequence[int], *, actor: str) -> int:
        """Move ``faces`` of a cluster into a new cluster; both parts are pinned apart."""
        self._cluster(cluster_id)
        members = {f.id for f in self.records.faces("f.cluster_id = ?", (cluster_id,))}
        moving = set(faces)
        if not moving or not moving <= members:
            raise InvalidInput(
                f"give faces of cluster {cluster_id} to split off: {sorted(members)}"
            )
        if moving == members:
            raise InvalidInput("splitting off every face leaves the cluster as it is")
        with self.records.write() as db:
            new = self.records.new_cluster(db)
            db.executemany(
                "UPDATE faces SET cluster_id = ?, pinned = 1 WHERE id = ?",
                [(new, f) for f in sorted(moving)],
            )
            db.execute("UPDATE faces SET pinned = 1 WHERE cluster_id = ?", (cluster_id,))
            self.records.decide(
                db, actor, "split", cluster=cluster_id, new=new, faces=sorted(moving)
            )
        return new

    def reject(self, face_id: int, *, actor: str) -> None:
        """Take a face out of its cluster: it stays unclustered and never goes back there."""
        face = self._face(face_id)
        if face.cluster_id is None:
            raise InvalidInput(f"face {face_id} is in no cluster")
        with self.records.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO rejections(face_id, cluster_id) VALUES(?, ?)",
                (face_id, face.cluster_id),
            )
            db.execute("UPDATE faces SET cluster_id = NULL, pinned = 0 WHERE id = ?", (face_id,))
            self.records.drop_empty_clusters(db)
            self.records.decide(db, actor, "reject", face=face_id, cluster=face.cluster_id)

    def confirm(self, face_id: int, *, actor: str) -> None:
        """Yes, this face belongs to its cluster: pin it there."""
        face = self._face(face_id)
        if face.cluster_id is None:
            raise InvalidInput(f"face {face_id} is in no cluster; move it into one")
        with self.records.write() as db:
            db.execute("UPDATE faces SET pinned = 1 WHERE id = ?", (face_id,))
            self.records.decide(db, actor, "confirm", face=face_id, cluster=face.cluster_id)

    def move(self, face_id: int, cluster_id: int, *, actor: str) -> None:
        """Put a face into a cluster (pinned), lifting an earlier rejection from it."""
        self._face(face_id)
        self._cluster(cluster_id)
        with self.records.write() as db:
            db.execute(
                "DELETE FROM rejections WHERE face_id = ? AND cluster_id = ?", (face_id, cluster_id)
            )
            db.execute(
                "UPDATE faces SET cluster_id = ?, pinned = 1 WHERE id = ?", (cluster_id, face_id)
            )
            self.records.drop_empty_clusters(db)
            self.records.decide(db, actor, "move", face=face_id, cluster=cluster_id)

    def keep_apart(self, cluster_id: int, other: int, *, actor: str) -> None:
        """No, cluster ``other`` is not the person of cluster ``cluster_id``: each face of
        ``other`` is rejected from ``cluster_id``, so neither the queue nor a re-run joins them."""
        if cluster_id == other:
            raise InvalidInput("a cluster is always its own person")
        self._cluster(cluster_id)
        self._cluster(other)
        faces = [f.id for f in self.records.faces("f.cluster_id = ?", (other,))]
        with self.records.write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO rejections(face_id, cluster_id) VALUES(?, ?)",
                [(f, cluster_id) for f in faces],
            )
            self.records.decide(db, actor, "apart", cluster=cluster_id, other=other)

    def answer(
        self,
        cluster_id: int,
        yes: bool,
        *,
        face: int | None = None,
        other: int | None = None,
        actor: str,
    ) -> None:
        """Answer one question of the queue (:meth:`suggest`): is ``face`` (or every face of
        cluster ``other``) the person of cluster ``cluster_id``? The question means the same
        whatever happened since it was asked: "yes" puts the face there (or confirms it when it
        is there already) or merges ``other`` in; "no" takes the face out (or, when it is
        elsewhere, keeps it from ever going there) or keeps the two clusters apart."""
        if (face is None) == (other is None):
            raise InvalidInput("answer about a face or about another cluster, not both")
        self._cluster(cluster_id)
        if other is not None:
            if yes:
                self.merge(cluster_id, other, actor=actor)
            else:
                self.keep_apart(cluster_id, other, actor=actor)
            return
        assert face is not None
        found = self._face(face)
        if yes:
            if found.cluster_id == cluster_id:
                self.confirm(face, actor=actor)
            else:
                self.move(face, cluster_id, actor=actor)
        elif found.cluster_id == cluster_id:
            self.reject(face, actor=actor)
        else:
            with self.records.write() as db:
                db.execute(
                    "INSERT OR IGNORE INTO rejections(face_id, cluster_id) VALUES(?, ?)",
                    (face, cluster_id),
                )
                self.records.decide(db, actor, "not_in", face=face, cluster=cluster_id)

    def suggest(self, *, limit: int = 20, min_gain: float = 0.01) -> dict[str, Any]:
        """What to ask next, most useful first: ``{"queue": [...], "merges": M, "questions":
        Q}``. Each item asks whether a face (``"face"``) or a whole unnamed cluster
        (``"other"``) is the person of named cluster ``"cluster"``, with ``confidence`` (the
        probability of "yes", see :mod:`facewise.cluster.suggest`) and ``gain`` (faces expected
        to get their right name from the answer); :meth:`answer` takes the reply. Faces the user
        confirmed or moved are never asked about again, and nothing a "no" ruled out comes
        back. Questions whose answer is all but sure (a gain under ``min_gain``) are not
        asked."""
        from facewise.cluster.suggest import MergeProposal, suggest

        state = self._state()
        rows = {c.id: c for c in self.records.clusters()}
        named = [cid for cid, c in rows.items() if c.name]
        where = {int(f): i for i, f in enumerate(state.ids.tolist())}
        sure = {
            int(d["face"])
            for d in self.records.decisions()
            if d["action"] in ("confirm", "move") and "face" in d
        }
        found = suggest(
            state.vectors,
            state.labels,
            fmr=self.fmr(),
            named=named,
            confirmed=[where[f] for f in sure if f in where],
            cannot_link=state.cannot_link(),
            limit=max(0, limit),
            min_gain=min_gain,
        )
        covers = {c["id"]: c["cover"] for c in self.summary()["clusters"]}
        queue: list[dict[str, Any]] = []
        for item in found.queue:
            if isinstance(item, MergeProposal):
                cluster = item.a
                asked: dict[str, Any] = {
                    "face": None,
                    "member": None,
                    "other": item.b,
                    "other_cover": covers.get(item.b),
                    "size": item.size,
                }
            else:
                cluster = item.cluster
                asked = {
                    "face": int(state.ids[item.face]),
                    "member": item.member,
                    "other": None,
                    "other_cover": None,
                    "size": 1,
                }
            queue.append(
                {
                    "cluster": cluster,
                    "name": rows[cluster].name if cluster in rows else None,
                    "cover": covers.get(cluster),
                    **asked,
                    "score": round(float(item.score), 4),
                    "confidence": round(float(item.confidence), 4),
                    "gain": round(float(item.gain), 4),
                }
            )
        return {"queue": queue, "merges": len(found.merges), "questions": len(found.questions)}

    # --- into the gallery ---------------------------------------------------------------------

    def enrol(
        self,
        cluster_id: int,
        gallery: Any,
        *,
        consent: str,
        expires_at: str | None,
        actor: str,
    ) -> dict[str, Any]:
        """Enrol a named cluster's faces as samples of the person of that name (created when
        absent), with ``consent`` as the basis; ``identify`` finds them from then on."""
        from facewise.gallery.records import NewSample

        self._cluster(cluster_id)
        row = self.records.cluster(cluster_id)
        assert row is not None
        if not row.name:
            raise InvalidInput(f"name cluster {cluster_id} before enrolling it")
        if not consent.strip():
            raise InvalidInput("enrolling needs a consent basis")
        faces = self.records.faces("f.cluster_id = ?", (cluster_id,))
        shas = dict(self.records.rows("SELECT id, sha256 FROM photos"))
        vectors = dict(
            self.records.rows("SELECT id, vector FROM faces WHERE cluster_id = ?", (cluster_id,))
        )
        samples = [
            NewSample(
                np.frombuffer(vectors[f.id], dtype=np.float32).copy(),
                shas[f.photo_id],
                f.path,
                f.quality,
                f.bbox,
            )
            for f in faces
        ]
        result = gallery.add_samples(
            row.name, samples, [], consent=consent, expires_at=expires_at, enrolled_by=actor
        )
        with self.records.write() as db:
            db.execute("UPDATE clusters SET person = ? WHERE id = ?", (row.name, cluster_id))
            self.records.decide(
                db, actor, "enrol", cluster=cluster_id, person=row.name, faces=len(samples)
            )
        return {"cluster": cluster_id, "person": row.name, "enrolled": result.enrolled}


@dataclass(frozen=True, slots=True)
class _State:
    """Every face of the collection in id order, as the clustering sees it."""

    ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    photo: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    pinned: npt.NDArray[np.bool_]
    placed: npt.NDArray[np.bool_]
    rejected: list[tuple[int, int]]

    def fixed(self) -> dict[int, int]:
        return {
            int(i): int(self.labels[i]) for i in np.flatnonzero(self.pinned & (self.labels >= 0))
        }

    def cannot_link(self) -> list[tuple[int, int]]:
        """Faces of one photo, and each rejected face against its old cluster's faces."""
        pairs: list[tuple[int, int]] = []
        by_photo: dict[int, list[int]] = defaultdict(list)
        for i, p in enumerate(self.photo.tolist()):
            by_photo[p].append(i)
        for members in by_photo.values():
            pairs.extend(itertools.combinations(members, 2))
        where = {int(f): i for i, f in enumerate(self.ids.tolist())}
        for face, cluster in self.rejected:
            if face in where:
                pairs.extend((where[face], int(j)) for j in np.flatnonzero(self.labels == cluster))
        return pairs


def _record_path(db: Any, path: str, photo_id: int, size: int, mtime_ns: int) -> None:
    db.execute(
        "INSERT OR REPLACE INTO paths(path, photo_id, size, mtime_ns) VALUES(?, ?, ?, ?)",
        (path, photo_id, size, mtime_ns),
    )


def _error(path: str, exc: FacewiseError) -> dict[str, Any]:
    return {"path": path, "error": exc.to_dict()}


def _face_dict(face: FaceRow) -> dict[str, Any]:
    return {
        "face": face.id,
        "path": face.path,
        "bbox": list(face.bbox),
        "quality": round(face.quality, 3),
        "pinned": face.pinned,
    }


__all__ = ["AddReport", "Collection"]
