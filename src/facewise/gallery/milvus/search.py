"""The Milvus gallery's read side for identification (what makes it a
:class:`~facewise.gallery.stores.SearchingStore`): live vectors, 1:N search answered by Milvus
with the expiry in its filter, the live count, and per-person templates that read only those
people's vectors."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput
from facewise.gallery.milvus.client import PAGE
from facewise.gallery.milvus.people import People
from facewise.gallery.milvus.schema import live_filter
from facewise.gallery.records import utc_now

NPROBE = {"IVF_FLAT": 64, "IVF_SQ8": 64}  # IVF lists probed a search (of nlist)
PEOPLE_PER_QUERY = 1024  # person ids in one `person_id in [...]` filter


class Search(People):
    """Reading live samples: vectors, search, count and templates."""

    def vectors(
        self, *, now: str | None = None, person: str | None = None
    ) -> tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.float32],
        npt.NDArray[np.float32],
    ]:
        """Live (unexpired) samples: (sample ids, person ids, vectors (N, D), qualities)."""
        now = now or utc_now()
        with self._lock:
            space = self.space()
            dim = space.dim if space else 0
            empty = np.zeros(0, dtype=np.int64)
            nothing = empty, empty, np.zeros((0, dim), np.float32), np.zeros(0, np.float32)
            if self._samples() is None:
                return nothing
            expr = live_filter(now)
            if person is not None:
                row = self._person_row(person)
                if row is None:
                    return nothing
                people = {int(row["id"]): person}
                expr += f" and person_id == {int(row['id'])}"
            else:
                people = self.names()  # a sample whose person is gone is not live
            rows = self._select(
                "samples",
                expr,
                ["id", "person_id", "vector", "quality"],
                key="id",
                end=self._counter("next_sample"),
                page=self._vector_page(),
            )
            rows = sorted(
                (r for r in rows if int(r["person_id"]) in people), key=lambda r: int(r["id"])
            )
            if not rows:
                return nothing
            ids = np.array([r["id"] for r in rows], dtype=np.int64)
            owners = np.array([r["person_id"] for r in rows], dtype=np.int64)
            vecs = np.array([r["vector"] for r in rows], dtype=np.float32).reshape(len(rows), -1)
            quality = np.array([r["quality"] for r in rows], dtype=np.float32)
            return ids, owners, vecs, quality

    def search(
        self, queries: npt.NDArray[np.float32], k: int, *, now: str | None = None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The ``k`` stored samples with the highest inner product with each query, answered by
        Milvus itself; samples expired at ``now`` (ISO UTC, default: the present) are left out
        by the filter expression. ``queries``: float32 (Q, D), L2-normalised. Returns (scores
        float32 (Q, k), sample ids int64 (Q, k), their person ids int64 (Q, k)), best first,
        padded with -inf / -1 / -1 where fewer than ``k`` samples are live. With the default
        HNSW index the answer is approximate (``ef`` = max(128, k)); ``index=FLAT`` makes it
        exact."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2:
            raise InvalidInput(f"queries of shape {q.shape}, expected (Q, D)")
        scores = np.full((len(q), max(k, 0)), -np.inf, dtype=np.float32)
        ids = np.full((len(q), max(k, 0)), -1, dtype=np.int64)
        owners = ids.copy()
        dim = self._samples()
        if k <= 0 or not len(q) or dim is None:
            return scores, ids, owners
        if q.shape[1] != dim:
            raise InvalidInput(f"queries of dimension {q.shape[1]}; this gallery holds {dim}")
        limit = min(k, PAGE)
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.index_type == "HNSW":
            params["params"] = {"ef": max(128, limit)}
        elif self.index_type in NPROBE:
            params["params"] = {"nprobe": NPROBE[self.index_type]}
        expr = live_filter(now or utc_now())
        step = max(1, min(1024, (16 << 20) // (limit * 24 + 4 * dim)))
        for start in range(0, len(q), step):
            chunk = q[start : start + step]
            hits = self._call(
                "search",
                self._name("samples"),
                data=chunk.tolist(),
                limit=limit,
                filter=expr,
                anns_field="vector",
                search_params=params,
                output_fields=["person_id"],
                **self._reads,
            )
            for row, found in enumerate(hits, start=start):
                for j, hit in enumerate(found[:limit]):
                    ids[row, j] = int(hit["id"])
                    scores[row, j] = float(hit["distance"])
                    owners[row, j] = int(hit["entity"]["person_id"])
        return scores, ids, owners

    def count(self, *, now: str | None = None) -> int:
        """The number of live samples: those not expired at ``now`` (ISO UTC; default the
        present). Counted by Milvus; no vector is read."""
        with self._lock:
            if self._samples() is None:
                return 0
            return self._count("samples", live_filter(now or utc_now()))

    def templates(
        self, person_ids: list[int], *, now: str | None = None
    ) -> dict[int, npt.NDArray[np.float32]]:
        """Per person in ``person_ids``: the quality-weighted mean of their samples live at
        ``now`` (ISO UTC; default the present), L2-normalised, float32 (D,) (the formula of the
        in-memory gallery's templates). Only those people's vectors are read from Milvus; a
        person with no live sample (or none at all) is absent from the answer."""
        wanted = sorted({int(p) for p in person_ids})
        if not wanted:
            return {}
        with self._lock:
            if self._samples() is None:
                return {}
            live = live_filter(now or utc_now())
            sums: dict[int, npt.NDArray[np.float32]] = {}
            for i in range(0, len(wanted), PEOPLE_PER_QUERY):
                chunk = wanted[i : i + PEOPLE_PER_QUERY]
                rows = self._select(
                    "samples",
                    f"person_id in {chunk} and {live}",
                    ["id", "person_id", "vector", "quality"],
                    key="id",
                    end=self._counter("next_sample"),
                    page=self._vector_page(),
                )
                for r in rows:
                    vector = np.asarray(r["vector"], dtype=np.float32) * np.float32(r["quality"])
                    pid = int(r["person_id"])
                    sums[pid] = sums[pid] + vector if pid in sums else vector
            out: dict[int, npt.NDArray[np.float32]] = {}
            for pid, total in sums.items():
                norm = max(float(np.linalg.norm(total)), 1e-12)
                out[pid] = (total / norm).astype(np.float32)
            return out


__all__ = ["NPROBE", "PEOPLE_PER_QUERY", "Search"]
