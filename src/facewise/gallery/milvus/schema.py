"""The gallery's collections in Milvus: their names and fields, the vector and scalar indexes
(and how a 2.3 server differs), creating, checking, loading and rewriting them, the keys kept in
``meta`` (the bound embedding space, the write generation, id counters), what the text fields
can hold, and the filter expressions that read them.

Collections (each ``{gallery}_...``; those without vectors carry a 2-D dummy vector, since a
Milvus collection needs one): ``meta`` (key, value), ``people`` (id, name, created_at),
``samples`` (id, FLOAT_VECTOR of the space's dimension with an inner-product index, person_id,
quality, and consent and provenance as scalars) and ``audit`` (seq, hash-chained events, no
embeddings).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import numpy as np

from facewise.errors import EmbeddingSpaceMismatch, FacewiseError, InvalidInput
from facewise.gallery.milvus.client import BATCH, PAGE, Connection
from facewise.types import EmbeddingSpace

log = logging.getLogger(__name__)

INDEXES: dict[str, dict[str, Any]] = {
    "HNSW": {"M": 16, "efConstruction": 200},
    "FLAT": {},
    "IVF_FLAT": {"nlist": 1024},
    "IVF_SQ8": {"nlist": 1024},
    "AUTOINDEX": {},
}
DUMMY_DIM = 2
DUMMY = [0.0] * DUMMY_DIM
TEXT = 65535  # VARCHAR max_length (bytes) of free-text fields
TEXT_CHARS = 16000  # the longest free text accepted (4 UTF-8 bytes a character fit in TEXT)
DETAIL_CHUNKS = 256  # audit details are JSON split into up to this many TEXT_CHARS chunks
STRONG = {"consistency_level": "Strong"}


class Collections(Connection):
    """The collections of one gallery on a :class:`Connection`, and the keys in ``meta``."""

    def _open_collections(self) -> None:
        self._recover_rewrite("samples")
        self._recover_rewrite("people")
        existing = set(self._call("list_collections"))
        for what, fields in (
            ("meta", {"key", "value"}),
            ("people", {"id", "name", "created_at"}),
            ("audit", {"seq", "at", "actor", "action", "subject", "details", "prev_hash", "hash"}),
        ):
            name = self._name(what)
            if name in existing:
                self._check_fields(name, fields)
            else:
                self._create(what, name, load=False)
        loads = [self._name(what) for what in ("meta", "people", "audit")]
        if self._name("samples") in existing:
            loads.append(self._name("samples"))
        self._load(loads)
        self._dim: int | None = None
        dim = self._samples()
        space = self.space()
        if space is not None and dim is not None and space.dim != dim:
            raise InvalidInput(
                f"{self.url}: the samples collection holds {dim}-D vectors but "
                f"the gallery is bound to {space.dim}-D ones"
            )

    def _samples(self) -> int | None:
        """The samples collection's vector dimension, or None while it does not exist (until the
        first enrolment, which another store object or process may make at any time)."""
        if self._dim is None:
            name = self._name("samples")
            if self._call("has_collection", name):
                dim = self._check_fields(
                    name, {"id", "vector", "person_id", "quality", "image_sha256", "expires_at"}
                )
                self._load([name])
                for index in self._call("list_indexes", name, field_name="vector")[:1]:
                    found = self._call("describe_index", name, index).get("index_type")
                    self.index_type = str(found or self.index_type).upper()
                self._dim = dim
        return self._dim

    def _check_fields(self, name: str, fields: set[str]) -> int | None:
        """Raise unless collection ``name`` has ``fields``; return its vector dimension."""
        info = self._call("describe_collection", name)
        have = {f["name"]: f for f in info["fields"]}
        if not fields <= set(have):
            raise InvalidInput(
                f"{self.url}: collection {name!r} is not a facewise gallery "
                f"collection (it lacks {sorted(fields - set(have))})"
            )
        vector = have.get("vector")
        return int(vector["params"]["dim"]) if vector else None

    def _create(self, what: str, name: str, dim: int = 0, *, load: bool = True) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        index = self._call("prepare_index_params")

        def text(field: str, length: int = TEXT) -> None:
            schema.add_field(field, DataType.VARCHAR, max_length=length)

        if what == "meta":
            schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
            text("value")
        elif what == "people":
            schema.add_field("id", DataType.INT64, is_primary=True)
            text("name", 1024)
            text("created_at", 64)
            self._scalar_index(index, "name", DataType.VARCHAR)
        elif what == "audit":
            schema.add_field("seq", DataType.INT64, is_primary=True)
            text("at", 64)
            text("actor")
            text("action")
            text("subject")
            schema.add_field(
                "details",
                DataType.ARRAY,
                element_type=DataType.VARCHAR,
                max_capacity=DETAIL_CHUNKS,
                max_length=TEXT,
            )
            text("prev_hash", 64)
            text("hash", 64)
        elif what == "samples":
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            schema.add_field("person_id", DataType.INT64)
            schema.add_field("quality", DataType.DOUBLE)
            for field in ("image_sha256", "source", "consent", "enrolled_by"):
                text(field)
            text("enrolled_at", 64)
            text("expires_at", 64)  # "" = never
            text("bbox", 1024)
            index.add_index(
                field_name="vector",
                index_type=self.index_type,
                metric_type="IP",
                params=INDEXES.get(self.index_type, {}),
            )
            self._scalar_index(index, "person_id", DataType.INT64)
            for field in ("image_sha256", "expires_at"):
                self._scalar_index(index, field, DataType.VARCHAR)
        if what != "samples":
            schema.add_field("pad", DataType.FLOAT_VECTOR, dim=DUMMY_DIM)
            index.add_index(field_name="pad", index_type="FLAT", metric_type="L2")
        self._call("create_collection", name, schema=schema, **STRONG)
        # sync=False: the collection is empty, and pymilvus's wait polls with a fixed 0.5 s sleep
        self._call("create_index", name, index, sync=False)
        if load:
            self._load([name])

    def _scalar_index(self, index: Any, field: str, dtype: Any) -> None:
        """An index on a filtered scalar field. INVERTED on Milvus Lite and servers from 2.4;
        a 2.3 server knows only Trie (VARCHAR) and STL_SORT (numbers)."""
        from pymilvus import DataType

        kind = "INVERTED"
        if not self._is_lite and self._version < (2, 4):
            kind = "Trie" if dtype == DataType.VARCHAR else "STL_SORT"
        index.add_index(field_name=field, index_type=kind)

    # --- meta: id counters and the write generation ----------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._get("meta", key, ["value"])
        return None if row is None else str(row["value"])

    def _set_meta(self, key: str, value: str) -> None:
        self._upsert("meta", [{"key": key, "value": value, "pad": DUMMY}])

    def _counter(self, key: str) -> int:
        return int(self._meta(key) or 1)

    def _take_ids(self, key: str, count: int) -> list[int]:
        """Reserve ``count`` new ids; the counter moves before any row is written."""
        first = self._counter(key)
        self._set_meta(key, str(first + count))
        return list(range(first, first + count))

    def _bump_generation(self) -> None:
        """Before a change to the vectors, so that index caches built from now on are stale
        whether or not the change completes."""
        self._set_meta("generation", str(self.generation() + 1))

    def generation(self) -> int:
        return int(self._meta("generation") or 0)

    # --- the embedding space --------------------------------------------------------------------

    def space(self) -> EmbeddingSpace | None:
        value = self._meta("space")
        return None if value is None else EmbeddingSpace(**json.loads(value))

    def check_space(self, space: EmbeddingSpace) -> None:
        bound = self.space()
        if bound is not None and bound != space:
            raise EmbeddingSpaceMismatch(
                f"this gallery holds {bound.as_dict()} vectors; refusing {space.as_dict()} "
                "(use another gallery, or the same model and settings)"
            )

    def _bind_space(self, space: EmbeddingSpace) -> bool:
        """Bind the gallery to ``space`` if it is unbound (creating the samples collection of
        its dimension first); True if this call bound it."""
        if self.space() is not None:
            return False
        name = self._name("samples")
        if self._samples() is not None and self._dim != space.dim:
            # left by an enrolment undone or cut short before any sample stayed
            if self._count("samples", "id >= 0"):
                raise FacewiseError(
                    f"{self.url}: samples of {self._dim}-D vectors but no bound "
                    "embedding space; refusing to enrol until this is repaired"
                )
            self._call("drop_collection", name)
            self._dim = None
        if self._dim is None:
            self._create("samples", name, space.dim)
            self._dim = space.dim
        self._set_meta("space", json.dumps(space.as_dict(), sort_keys=True))
        return True

    def _vector_page(self) -> int:
        dim = self._dim or 1
        return max(256, min(PAGE, (8 << 20) // (4 * dim + 256)))

    # --- rewriting (Milvus Lite's compaction) -----------------------------------------------------

    def _rewrite(self, what: str) -> None:
        name, fresh = self._name(what), self._name(f"{what}_rewrite")
        if self._call("has_collection", fresh):
            self._call("drop_collection", fresh)
        self._create(what, fresh, self._dim or 0)
        counter = "next_sample" if what == "samples" else "next_person"
        page = self._vector_page() if what == "samples" else PAGE
        rows = self._select(what, "id >= 0", ["*"], key="id", end=self._counter(counter), page=page)
        clean = (
            [sample_row(r) for r in rows]
            if what == "samples"
            else [
                {"id": r["id"], "name": r["name"], "created_at": r["created_at"], "pad": DUMMY}
                for r in rows
            ]
        )
        for i in range(0, len(clean), BATCH):
            done = self._call("insert", fresh, clean[i : i + BATCH])
            if int(done.get("insert_count", 0)) != len(clean[i : i + BATCH]):
                raise FacewiseError(f"rewriting {name}: an insert fell short")
        self._call("flush", fresh)
        copied = self._call(
            "query", fresh, filter="id >= 0", output_fields=["count(*)"], **self._reads
        )
        if int(copied[0]["count(*)"]) != len(clean):
            raise FacewiseError(f"rewriting {name}: {copied} rows copied of {len(clean)}")
        self._call("drop_collection", name)  # from here on, reopening finishes the swap
        self._call("rename_collection", fresh, name)
        self._call("load_collection", name)

    def _recover_rewrite(self, what: str) -> None:
        name, fresh = self._name(what), self._name(f"{what}_rewrite")
        if not self._call("has_collection", fresh):
            return
        if self._call("has_collection", name):  # the copy never finished: the old one stands
            self._call("drop_collection", fresh)
        else:  # the copy was complete and the old one dropped: finish the swap
            log.warning("finishing an interrupted compaction of %s", name)
            self._call("rename_collection", fresh, name)


def quote(text: str) -> str:
    """A string literal for a Milvus filter expression (the escapes both Milvus and Milvus Lite
    read: backslash, double quote, newline, carriage return, tab)."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def live_filter(now: str) -> str:
    return f'(expires_at == "" or expires_at > {quote(now)})'


def sample_row(row: dict[str, Any]) -> dict[str, Any]:
    """A queried samples row as an insertable one (vector as float32 values)."""
    keys = (
        "id",
        "vector",
        "person_id",
        "quality",
        "image_sha256",
        "source",
        "consent",
        "enrolled_at",
        "enrolled_by",
        "expires_at",
        "bbox",
    )
    out = {k: row[k] for k in keys}
    out["vector"] = np.asarray(row["vector"], dtype=np.float32).tolist()
    return out


def chunks(text: str) -> list[str]:
    return [text[i : i + TEXT_CHARS] for i in range(0, len(text), TEXT_CHARS)] or [""]


def check_text(*, limit: int = TEXT_CHARS, **fields: str) -> None:
    for field, value in fields.items():
        if len(value) > limit:
            raise InvalidInput(
                f"{field} is {len(value)} characters long; the Milvus gallery "
                f"stores at most {limit}"
            )


def check_audit(actor: str, action: str, subject: str, details: dict[str, Any]) -> None:
    """Refuse, before anything is written, an event the audit collection could not hold."""
    check_text(actor=actor, action=action, subject=subject)
    size = len(json.dumps(details, sort_keys=True))
    if math.ceil(size / TEXT_CHARS) > DETAIL_CHUNKS:
        raise InvalidInput(
            f"audit details of {size} characters; the Milvus gallery stores at "
            f"most {DETAIL_CHUNKS * TEXT_CHARS}"
        )


__all__ = [
    "DETAIL_CHUNKS",
    "DUMMY",
    "DUMMY_DIM",
    "INDEXES",
    "STRONG",
    "TEXT",
    "TEXT_CHARS",
    "Collections",
    "check_audit",
    "check_text",
    "chunks",
    "live_filter",
    "quote",
    "sample_row",
]
