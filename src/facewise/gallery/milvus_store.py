"""The scale-out gallery store: Milvus through pymilvus, with the same contract as
:class:`facewise.gallery.sqlite_store.SqliteStore`.

``milvus://[user:password@]host:port`` talks to a Milvus server; ``milvus-lite:///path/file.db``
opens a Milvus Lite database (a directory; the path must end in ``.db``; like ``sqlite:///``, three
slashes then a relative path, four for an absolute one). Query parameters: ``gallery=NAME`` (the
collection-name prefix, default ``facewise``, so one server can hold several galleries),
``index=HNSW|FLAT|IVF_FLAT|IVF_SQ8|AUTOINDEX`` (the vector index, default HNSW; fixed when the
gallery's first face is enrolled) and ``consistency=Strong|Session|Bounded`` (reads on a server;
default Session: this process's own writes are seen at once, another process's within about a
time tick, ~200 ms; Strong waits for that tick on every read). Tested against Milvus Lite 3.2 and
the Milvus 2.3.5 standalone server.

Collections (each ``{gallery}_...``; those without vectors carry a 2-D dummy vector, since a Milvus
collection needs one): ``meta`` (the bound embedding space, the write generation, id counters,
the audit head), ``people``, ``samples`` (FLOAT_VECTOR of the space's dimension with an
inner-product index, plus consent and provenance as scalars) and ``audit`` (hash-chained events, no
embeddings). Ids are assigned here from counters in ``meta``, bumped before the rows are written,
so an id is never reused, even after a crash.

Milvus has no transactions and no unique constraints. Within one process every write holds a lock
shared by all stores on the same location, so names stay unique and the audit chain stays linear;
two *processes* writing to one Milvus server are not coordinated (Milvus Lite refuses a second
process anyway). Each write is ordered so that a crash never leaves a sample without its person,
and a failed enrolment is undone (see :meth:`MilvusStore.add_samples`). What a crash can leave
behind: a write done without its audit event (the chain stays valid: the event is missing, not
forged); a merge half done (re-running it finishes it); the generation bumped with nothing changed
(index caches are rebuilt once, which is harmless). The audit log is append-only through this API
but Milvus cannot refuse an edit from a raw client: it is tamper-evident
(:func:`facewise.gallery.audit.verify_chain`), not tamper-proof.

Milvus Lite flushes every write to the OS before it answers (a killed process loses nothing it
reported) but fsyncs only on close, so a power cut may lose the last writes. A Milvus server's
durability is that of its deployment.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import numpy.typing as npt

from facewise.errors import (
    Conflict,
    EmbeddingSpaceMismatch,
    FacewiseError,
    GalleryUnavailable,
    InvalidInput,
    NameTaken,
    PersonNotFound,
)
from facewise.gallery.audit import GENESIS, event_hash, redact_paths, safe_text
from facewise.gallery.names import lookup_forms, name_key, person_name
from facewise.gallery.records import Added, AuditEvent, NewSample, Person, SampleInfo, utc_now
from facewise.location import redact
from facewise.types import EmbeddingSpace

log = logging.getLogger(__name__)

_LITE = "milvus-lite:///"
_SERVER = "milvus://"
_INDEXES = {
    "HNSW": {"M": 16, "efConstruction": 200},
    "FLAT": {},
    "IVF_FLAT": {"nlist": 1024},
    "IVF_SQ8": {"nlist": 1024},
    "AUTOINDEX": {},
}
_DUMMY_DIM = 2
_DUMMY = [0.0] * _DUMMY_DIM
_TEXT = 65535  # VARCHAR max_length (bytes) of free-text fields
_TEXT_CHARS = 16000  # the longest free text accepted (4 UTF-8 bytes a character fit in _TEXT)
_DETAIL_CHUNKS = 256  # audit details are JSON split into up to this many _TEXT_CHARS chunks
_PAGE = 16384  # Milvus's largest query window (limit + offset)
_BATCH = 4096  # rows per insert / ids per delete
_STRONG = {"consistency_level": "Strong"}
_NPROBE = {"IVF_FLAT": 64, "IVF_SQ8": 64}  # IVF lists probed a search (of nlist)
_PEOPLE_PER_QUERY = 1024  # person ids in one `person_id in [...]` filter
_FLUSH_ROWS = 2000  # Milvus Lite: flush after this many rows written (see MilvusStore._wrote)


class MilvusStore:
    """A gallery held in Milvus (a server, or Milvus Lite for one process). The same public
    methods and semantics as :class:`~facewise.gallery.sqlite_store.SqliteStore`, plus
    :meth:`search`, which lets Milvus answer 1:N queries."""

    erasure_steps = (
        "Milvus rows deleted",
        "collections compacted (Milvus Lite: live rows copied to fresh collections, old files "
        "deleted; a server: compaction, old segments removed after its garbage-collection delay)",
    )
    _locks: ClassVar[dict[str, threading.RLock]] = {}
    # per gallery: (people_version, name key -> [(person id, stored name)]), see _taken
    _name_keys: ClassVar[dict[str, tuple[str, dict[str, list[tuple[int, str]]]]]] = {}
    _lite_users: ClassVar[dict[str, int]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.url = str(url)
        self._timeout = timeout
        self._lite_path: Path | None = None
        uri, token, params = self._parse(self.url)
        self.prefix = params.get("gallery", "facewise")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", self.prefix):
            raise InvalidInput(f"gallery={self.prefix!r}: letters, digits and _ only")
        self.index_type = params.get("index", "HNSW").upper()  # an existing gallery's wins
        level = params.get("consistency", "").capitalize()
        if level not in ("", "Strong", "Session", "Bounded"):
            raise InvalidInput(f"consistency={level!r}: use Strong, Session or Bounded")
        # Reads on Milvus Lite are Strong (free there). On a server a Strong read waits for the
        # next time tick (~200 ms); Session reads see every write made by this process at once
        # (pymilvus keeps the last write's timestamp per collection, process-wide) and another
        # process's writes within about a time tick.
        level = level or ("Strong" if self._lite_path is not None else "Session")
        self._reads: dict[str, Any] = {"consistency_level": level}
        if self.index_type not in _INDEXES:
            raise InvalidInput(f"index={self.index_type!r}: use one of {sorted(_INDEXES)}")
        key = f"{uri}#{self.prefix}"
        self._gallery_key = key
        with MilvusStore._registry_lock:
            self._lock = MilvusStore._locks.setdefault(key, threading.RLock())
        self._client: Any = None
        self._closed = False
        self._is_lite = False
        self._version: tuple[int, int] = (0, 0)  # the server's (major, minor); Lite: (0, 0)
        self._dirty: set[str] = set()
        self._unflushed = 0
        from pymilvus import MilvusClient  # lazily: importing facewise never imports pymilvus

        if self._lite_path is not None:  # counted before connecting: close() uncounts
            with MilvusStore._registry_lock:
                path = str(self._lite_path)
                MilvusStore._lite_users[path] = MilvusStore._lite_users.get(path, 0) + 1
        try:
            self._client = MilvusClient(uri=uri, token=token, timeout=timeout)
        except Exception as exc:
            self.close()
            raise self._open_error(exc) from None
        try:
            # by the URL, not the version string: the `milvus` PyPI server says "v2.3.5-lite"
            self._is_lite = self._lite_path is not None
            self._version = _version(str(self._client.get_server_version()))
            with self._lock:
                self._open_collections()
        except FacewiseError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise self._open_error(exc) from None

    # --- opening ------------------------------------------------------------------------------

    def _parse(self, url: str) -> tuple[str, str, dict[str, str]]:
        """(pymilvus uri, token, query parameters) for a store URL."""
        if url.startswith(_LITE):
            rest, _, query = url[len(_LITE):].partition("?")
            if not rest.endswith(".db"):
                raise InvalidInput(f"{url!r}: a Milvus Lite database path must end in .db")
            path = Path(rest).absolute()
            if path.exists() and not path.is_dir():
                raise InvalidInput(f"{path} is not a facewise gallery (a Milvus Lite database "
                                   "is a directory)")
            if path.is_dir() and any(path.iterdir()) and not (path / "LOCK").exists():
                raise InvalidInput(f"{path} is not a facewise gallery (not a Milvus Lite "
                                   "database)")
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lite_path = path
            return str(path), "", _query(query)
        if url.startswith(_SERVER):
            parts = urlsplit(url)
            if not parts.hostname or parts.path not in ("", "/"):
                raise InvalidInput(f"{url!r}: use milvus://host:port")
            port = parts.port or 19530
            token = ""
            if parts.username:
                token = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            return f"http://{parts.hostname}:{port}", token, _query(parts.query)
        raise InvalidInput(f"{url!r} is not a Milvus URL (milvus://host:port or "
                           "milvus-lite:///path/file.db)")

    def _open_error(self, exc: BaseException) -> FacewiseError:
        if self._lite_path is not None:
            return GalleryUnavailable(
                f"cannot open the Milvus Lite gallery {self._lite_path}: {exc} (is another "
                "process using it? Milvus Lite allows one process per database)")
        return GalleryUnavailable(f"cannot open the Milvus gallery {redact(self.url)}: {exc}")

    def _name(self, what: str) -> str:
        return f"{self.prefix}_{what}"

    def _open_collections(self) -> None:
        self._recover_rewrite("samples")
        self._recover_rewrite("people")
        existing = set(self._call("list_collections"))
        for what, fields in (("meta", {"key", "value"}),
                             ("people", {"id", "name", "created_at"}),
                             ("audit", {"seq", "at", "actor", "action", "subject", "details",
                                        "prev_hash", "hash"})):
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
            raise InvalidInput(f"{self.url}: the samples collection holds {dim}-D vectors but "
                               f"the gallery is bound to {space.dim}-D ones")

    def _samples(self) -> int | None:
        """The samples collection's vector dimension, or None while it does not exist (until the
        first enrolment, which another store object or process may make at any time)."""
        if self._dim is None:
            name = self._name("samples")
            if self._call("has_collection", name):
                dim = self._check_fields(name, {"id", "vector", "person_id", "quality",
                                                "image_sha256", "expires_at"})
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
            raise InvalidInput(f"{self.url}: collection {name!r} is not a facewise gallery "
                               f"collection (it lacks {sorted(fields - set(have))})")
        vector = have.get("vector")
        return int(vector["params"]["dim"]) if vector else None

    def _create(self, what: str, name: str, dim: int = 0, *, load: bool = True) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        index = self._call("prepare_index_params")

        def text(field: str, length: int = _TEXT) -> None:
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
            schema.add_field("details", DataType.ARRAY, element_type=DataType.VARCHAR,
                             max_capacity=_DETAIL_CHUNKS, max_length=_TEXT)
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
            index.add_index(field_name="vector", index_type=self.index_type, metric_type="IP",
                            params=_INDEXES.get(self.index_type, {}))
            self._scalar_index(index, "person_id", DataType.INT64)
            for field in ("image_sha256", "expires_at"):
                self._scalar_index(index, field, DataType.VARCHAR)
        if what != "samples":
            schema.add_field("pad", DataType.FLOAT_VECTOR, dim=_DUMMY_DIM)
            index.add_index(field_name="pad", index_type="FLAT", metric_type="L2")
        self._call("create_collection", name, schema=schema, **_STRONG)
        # sync=False: the collection is empty, and pymilvus's wait polls with a fixed 0.5 s sleep
        self._call("create_index", name, index, sync=False)
        if load:
            self._load([name])

    def _load(self, names: list[str]) -> None:
        """Load collections for search and query, and wait until they are. A server takes a few
        seconds for each, mostly waiting, so it is asked for all of them at once."""
        if self._is_lite:
            for name in names:
                self._call("load_collection", name)
            return
        for name in names:
            self._call("load_collection", name, _async=True)
        deadline = time.monotonic() + self._timeout
        while names:
            names = [n for n in names
                     if "Loaded" not in str(self._call("get_load_state", n).get("state"))]
            if names and time.monotonic() > deadline:
                raise FacewiseError(f"Milvus did not load {names} within {self._timeout:.0f} s")
            if names:
                time.sleep(0.05)

    def _scalar_index(self, index: Any, field: str, dtype: Any) -> None:
        """An index on a filtered scalar field. INVERTED on Milvus Lite and servers from 2.4;
        a 2.3 server knows only Trie (VARCHAR) and STL_SORT (numbers)."""
        from pymilvus import DataType

        kind = "INVERTED"
        if not self._is_lite and self._version < (2, 4):
            kind = "Trie" if dtype == DataType.VARCHAR else "STL_SORT"
        index.add_index(field_name=field, index_type=kind)

    # --- plumbing -----------------------------------------------------------------------------

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One pymilvus call; its errors become :class:`FacewiseError`."""
        if self._client is None:
            raise FacewiseError(f"the gallery {self.url} is closed")
        from pymilvus.exceptions import MilvusException

        try:
            return getattr(self._client, method)(*args, **kwargs)
        except MilvusException as exc:
            raise FacewiseError(f"Milvus {method} failed on {self.url}: {exc}") from exc

    def _query(self, what: str, expr: str, fields: list[str], *, limit: int = _PAGE
               ) -> list[dict[str, Any]]:
        return list(self._call("query", self._name(what), filter=expr, output_fields=fields,
                               limit=limit, **self._reads))

    def _count(self, what: str, expr: str) -> int:
        rows = self._call("query", self._name(what), filter=expr, output_fields=["count(*)"],
                          **self._reads)
        return int(rows[0]["count(*)"]) if rows else 0

    def _select(self, what: str, expr: str, fields: list[str], *, key: str, end: int,
                page: int = _PAGE) -> list[dict[str, Any]]:
        """Every row matching ``expr``. One query when fewer than ``page`` match; otherwise
        windows of ``page`` consecutive ids in [1, end) (ids are unique, so a window never holds
        more rows than a query returns)."""
        rows = self._query(what, expr, fields, limit=page)
        if len(rows) < page:
            return rows
        out: list[dict[str, Any]] = []
        for start in range(0, end, page):
            window = f"({expr}) and {key} >= {start} and {key} < {start + page}"
            out.extend(self._query(what, window, fields, limit=page))
        return out

    def _insert(self, what: str, rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), _BATCH):
            chunk = rows[i:i + _BATCH]
            done = self._call("insert", self._name(what), chunk)
            if int(done.get("insert_count", len(chunk))) != len(chunk):
                raise FacewiseError(f"Milvus inserted {done.get('insert_count')} of "
                                    f"{len(chunk)} rows into {self._name(what)}")
        self._wrote(what, len(rows))

    def _upsert(self, what: str, rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), _BATCH):
            self._call("upsert", self._name(what), rows[i:i + _BATCH])
        self._wrote(what, len(rows))

    def _delete(self, what: str, ids: Iterable[int | str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), _BATCH):
            self._call("delete", self._name(what), ids=ids[i:i + _BATCH])
        if ids and not self._is_lite:
            # A 2.3 server answers a delete without its timestamp, so pymilvus cannot make the
            # Session reads that follow wait for it: one Strong read does (the query node
            # applies deletes in order, so every later read sees this one).
            self._call("get", self._name(what), ids=ids[:1], consistency_level="Strong")
        self._wrote(what, len(ids))

    def _wrote(self, what: str, rows: int) -> None:
        """Milvus Lite keeps writes in an in-memory table (up to 128 MB) that every query and
        search scans without an index (~150 ms a search at 10,000 faces, ~7 ms once flushed into
        an indexed segment), so flush after every _FLUSH_ROWS rows written, and on close."""
        if not self._is_lite or not rows:
            return
        self._dirty.add(what)
        self._unflushed += rows
        if self._unflushed >= _FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        for what in sorted(self._dirty):
            self._call("flush", self._name(what))
        self._dirty.clear()
        self._unflushed = 0

    def _get(self, what: str, key: int | str, fields: list[str]) -> dict[str, Any] | None:
        rows = self._call("get", self._name(what), ids=[key], output_fields=fields, **self._reads)
        return dict(rows[0]) if rows else None

    def _meta(self, key: str) -> str | None:
        row = self._get("meta", key, ["value"])
        return None if row is None else str(row["value"])

    def _set_meta(self, key: str, value: str) -> None:
        self._upsert("meta", [{"key": key, "value": value, "pad": _DUMMY}])

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

    @contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock:
            if self._client is None:
                raise FacewiseError(f"the gallery {self.url} is closed")
            yield

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._client is not None:
                try:
                    if self._dirty:
                        self._flush()
                except FacewiseError:
                    log.exception("could not flush %s on close", self.url)
                try:
                    self._client.close()
                finally:
                    self._client = None
            self._release_lite()

    def _release_lite(self) -> None:
        """Stop this process's Milvus Lite server for the path once its last store closes, so
        that its lock file is free for other processes."""
        if self._lite_path is None:
            return
        path = str(self._lite_path)
        with MilvusStore._registry_lock:
            users = MilvusStore._lite_users.get(path, 0) - 1
            if users > 0:
                MilvusStore._lite_users[path] = users
                return
            MilvusStore._lite_users.pop(path, None)
        try:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(path)
        except ImportError:  # pragma: no cover - pymilvus found no milvus-lite either
            pass

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
                raise FacewiseError(f"{self.url}: samples of {self._dim}-D vectors but no bound "
                                    "embedding space; refusing to enrol until this is repaired")
            self._call("drop_collection", name)
            self._dim = None
        if self._dim is None:
            self._create("samples", name, space.dim)
            self._dim = space.dim
        self._set_meta("space", json.dumps(space.as_dict(), sort_keys=True))
        return True

    # --- people -----------------------------------------------------------------------------------

    def _person_row(self, name: str) -> dict[str, Any] | None:
        """The person named ``name`` as given, else in its NFKC form."""
        given, nfkc = lookup_forms(name)
        for form in dict.fromkeys((given, nfkc)):
            rows = self._query("people", f"name == {_quote(form)}", ["id", "name", "created_at"])
            if rows:
                return min(rows, key=lambda r: int(r["id"]))
        return None

    def _taken(self, name: str, *, other_than: int = 0) -> str | None:
        """The stored name that ``name`` clashes with under the name rule, if any. Milvus has no
        unique index to ask, so the people's name keys are kept in memory, valid while the
        ``people_version`` in ``meta`` (moved after every change to ``people``, by any
        process) is the one they were read at; otherwise they are read again."""
        version = self._meta("people_version") or "0"
        cached = MilvusStore._name_keys.get(self._gallery_key)
        if cached is None or cached[0] != version:
            keys: dict[str, list[tuple[int, str]]] = {}
            for row in self._people_rows():
                keys.setdefault(name_key(row["name"]), []).append((int(row["id"]), row["name"]))
            cached = MilvusStore._name_keys[self._gallery_key] = (version, keys)
        for pid, stored in cached[1].get(name_key(name), []):
            if pid != other_than:
                return stored
        return None

    def _people_changed(self, *, added: tuple[int, str] | None = None) -> None:
        """After a write to ``people``: move ``people_version`` on; the name keys in memory
        follow a person this process ``added`` and are dropped after any other change."""
        old = self._meta("people_version") or "0"
        new = str(int(old) + 1)
        self._set_meta("people_version", new)
        cached = MilvusStore._name_keys.pop(self._gallery_key, None)
        if added is not None and cached is not None and cached[0] == old:
            cached[1].setdefault(name_key(added[1]), []).append(added)
            MilvusStore._name_keys[self._gallery_key] = (new, cached[1])

    def _sample_count(self, person_id: int) -> int:
        if self._samples() is None:
            return 0
        return self._count("samples", f"person_id == {int(person_id)}")

    def person(self, name: str) -> Person | None:
        with self._lock:
            row = self._person_row(name)
            if row is None:
                return None
            return Person(int(row["id"]), row["name"], row["created_at"],
                          self._sample_count(int(row["id"])))

    def require(self, name: str) -> Person:
        found = self.person(name)
        if found is None:
            raise InvalidInput(f"no person named {name!r} in the gallery")
        return found

    def _people_rows(self) -> list[dict[str, Any]]:
        return self._select("people", "id >= 0", ["id", "name", "created_at"], key="id",
                            end=self._counter("next_person"))

    def people(self) -> list[Person]:
        with self._lock:
            rows = self._people_rows()
            counts: dict[int, int] = {}
            if self._samples() is not None and rows:
                owners = self._select("samples", "id >= 0", ["person_id"], key="id",
                                      end=self._counter("next_sample"))
                for r in owners:
                    counts[int(r["person_id"])] = counts.get(int(r["person_id"]), 0) + 1
            people = [Person(int(r["id"]), r["name"], r["created_at"],
                             counts.get(int(r["id"]), 0)) for r in rows]
            return sorted(people, key=lambda p: (p.name, p.id))

    def names(self, ids: Iterable[int] | None = None) -> dict[int, str]:
        """Person id -> name, for ``ids`` only when given (the hot path of identification)."""
        with self._lock:
            if ids is None:
                rows = self._people_rows()
            else:
                wanted = sorted({int(i) for i in ids})
                if not wanted:
                    return {}
                rows = self._select("people", f"id in {wanted}", ["id", "name"], key="id",
                                    end=self._counter("next_person"))
            return {int(r["id"]): r["name"] for r in rows}

    def rename(self, old: str, new: str, *, actor: str) -> Person:
        new = person_name(new)
        _check_audit(actor, "rename", old, {"new_name": new})
        with self._write():
            person = self.require(old)
            clash = self._taken(new, other_than=person.id)
            if clash is not None:
                raise NameTaken(f"a person named {clash!r} already exists; merge instead")
            self._upsert("people", [{"id": person.id, "name": new,
                                     "created_at": person.created_at, "pad": _DUMMY}])
            self._people_changed()
            self._audit(actor, "rename", old, {"new_name": new})
            return self.require(new)

    def merge(self, source: str, target: str, *, actor: str) -> Person:
        """Move every sample of ``source`` to ``target``, then delete ``source``. A crash midway
        leaves some samples moved and ``source`` still there; merging again finishes it."""
        with self._write():
            src, dst = self.require(source), self.require(target)
            if src.id == dst.id:
                raise InvalidInput("cannot merge a person into themselves")
            details = {"into": target, "samples": src.samples}
            _check_audit(actor, "merge", source, details)
            self._bump_generation()
            if self._samples() is not None:
                rows = self._select("samples", f"person_id == {src.id}", ["*"], key="id",
                                    end=self._counter("next_sample"), page=self._vector_page())
                for row in rows:
                    row["person_id"] = dst.id
                self._upsert("samples", [_sample_row(r) for r in rows])
                left = self._count("samples", f"person_id == {src.id}")
                if left:
                    raise FacewiseError(f"merge left {left} samples under {source!r}; run it "
                                        "again")
            self._delete("people", [src.id])
            self._people_changed()
            self._audit(actor, "merge", source, details)
            return self.require(target)

    # --- samples ----------------------------------------------------------------------------------

    def add_samples(self, name: str, space: EmbeddingSpace, samples: list[NewSample], *,
                    consent: str, enrolled_by: str, expires_at: str | None,
                    new: bool = False, person_id: int | None = None) -> Added:
        """Enrol ``samples`` for ``name`` (created if new); returns their ids. With ``new`` the
        person must not exist yet (:class:`Conflict`, or :class:`NameTaken` for a name that is
        the same under the name rule; checked under this process's write lock). With
        ``person_id`` that person must still exist under ``name`` (:class:`PersonNotFound`
        otherwise: forgotten, removed, renamed or merged since the caller looked them up), so
        an enrolment never re-creates or splits a person. A sample whose image the person
        already has, or that repeats one of this call, is not stored (its position is in the
        result's ``dropped``).

        All or nothing as far as Milvus allows: the samples go in with one insert call (which
        Milvus Lite writes as one WAL record), are read back, and on any failure (the insert,
        the check, the audit event) the samples, a person created by this call and a space
        bound by it are deleted again before the error is raised. A crash (killed process, lost
        server) between the steps can leave: the space bound with no samples; a new person with
        no samples; the samples without their audit event. It cannot leave part of a batch
        (one insert call), a sample without its person, or a reused id.
        """
        if person_id is None:
            name = person_name(name)
        if not consent.strip():
            raise InvalidInput("a consent basis is required to enrol a face")
        if expires_at == "":
            raise InvalidInput("expires_at must be an ISO-8601 time, or None for never")
        for s in samples:
            if s.vector.shape != (space.dim,):
                raise InvalidInput(f"vector of shape {s.vector.shape}, expected ({space.dim},)")
            if not np.all(np.isfinite(s.vector)):
                raise InvalidInput("a vector holds NaN or infinity")
            _check_text(image_sha256=s.image_sha256, source=safe_text(s.source))
        _check_text(consent=consent, enrolled_by=enrolled_by)
        _check_text(expires_at=expires_at or "", limit=64)
        details = {"samples": len(samples), "consent": consent,
                   "images": sorted({s.image_sha256 for s in samples})}
        _check_audit(enrolled_by, "enrol", name, details)
        if not samples:  # nothing to enrol: no person, no space binding, no audit event
            self.check_space(space)
            return Added()
        now = utc_now()
        with self._write():
            self.check_space(space)
            if person_id is not None:
                row = self._get("people", int(person_id), ["id", "name"])
                if row is None or row["name"] != name:
                    raise PersonNotFound(
                        f"{name!r} is no longer in the gallery (forgotten, removed, renamed or "
                        "merged while the request ran): nothing enrolled")
            else:
                row = self._person_row(name)
                if new and row is not None:
                    raise Conflict(f"a person named {row['name']!r} exists already")
                if row is None:
                    clash = self._taken(name)
                    if clash is not None:
                        raise NameTaken(f"a person named {clash!r} exists already, the same "
                                        f"name as {name!r} under the name rule")
                else:
                    name = str(row["name"])
            dropped, seen = [], set()
            if row is not None and self._samples() is not None:
                wanted = sorted({s.image_sha256 for s in samples})
                have = {r["image_sha256"] for r in self._query(
                    "samples", f"person_id == {int(row['id'])} and image_sha256 in "
                    f"[{', '.join(_quote(w) for w in wanted)}]", ["image_sha256"])}
            else:
                have = set()
            kept = []
            for pos, s in enumerate(samples):
                if s.image_sha256 in have or s.image_sha256 in seen:
                    dropped.append(pos)
                else:
                    seen.add(s.image_sha256)
                    kept.append(s)
            if not kept:  # every image was there already: nothing changes
                return Added((), dropped, int(row["id"]) if row is not None else None)
            samples = kept
            details = {"samples": len(samples), "consent": consent, "images": sorted(seen)}
            self._bump_generation()
            bound = False
            created: int | None = None  # a person this call created
            ids: list[int] = []
            try:
                bound = self._bind_space(space)
                if row is None:
                    person_id = self._take_ids("next_person", 1)[0]
                    self._insert("people", [{"id": person_id, "name": name, "created_at": now,
                                             "pad": _DUMMY}])
                    created = person_id
                    self._people_changed(added=(person_id, name))
                else:
                    person_id = int(row["id"])
                ids = self._take_ids("next_sample", len(samples))
                self._insert("samples", [
                    {"id": i, "vector": np.asarray(s.vector, dtype=np.float32).tolist(),
                     "person_id": person_id, "quality": float(s.quality),
                     "image_sha256": s.image_sha256, "source": safe_text(s.source),
                     "consent": consent,
                     "enrolled_at": now, "enrolled_by": enrolled_by,
                     "expires_at": expires_at or "", "bbox": json.dumps(list(s.bbox))}
                    for i, s in zip(ids, samples, strict=True)])
                stored = self._count("samples", f"id >= {ids[0]} and id <= {ids[-1]} and "
                                                f"person_id == {person_id}")  # consecutive ids
                if stored != len(ids):
                    raise FacewiseError(f"Milvus holds {stored} of the {len(ids)} samples just "
                                        "inserted")
                self._audit(enrolled_by, "enrol", name, details)
            except BaseException:
                self._undo_enrolment(ids, created, bound)
                raise
            return Added(ids, dropped, person_id)

    def _undo_enrolment(self, ids: list[int], person_id: int | None, bound: bool) -> None:
        """Best effort: delete what a failed enrolment wrote (each step on its own)."""
        steps: list[tuple[str, Any]] = []
        if ids and self._dim is not None:
            steps.append(("samples", ids))
        if person_id is not None:
            steps.append(("people", [person_id]))
        if bound:
            steps.append(("meta", ["space"]))
        for what, keys in steps:
            try:
                self._delete(what, keys)
                if what == "people":
                    self._people_changed()
            except Exception:  # the original error matters more
                log.exception("could not undo a failed enrolment in %s", self._name(what))
                return  # keep the space bound while any sample may remain

    def has_image(self, name: str, image_sha256: str) -> bool:
        with self._lock:
            row = self._person_row(name)
            if row is None or self._samples() is None:
                return False
            expr = f"person_id == {int(row['id'])} and image_sha256 == {_quote(image_sha256)}"
            return bool(self._query("samples", expr, ["id"], limit=1))

    def samples_of(self, name: str) -> list[SampleInfo]:
        with self._lock:
            row = self._person_row(name)
            if row is None or self._samples() is None:
                return []
            fields = ["id", "image_sha256", "source", "consent", "enrolled_at", "enrolled_by",
                      "expires_at", "quality", "bbox"]
            rows = self._select("samples", f"person_id == {int(row['id'])}", fields, key="id",
                                end=self._counter("next_sample"))
            return [SampleInfo(int(r["id"]), row["name"], r["image_sha256"], r["source"],
                               r["consent"], r["enrolled_at"], r["enrolled_by"],
                               r["expires_at"] or None, float(r["quality"]),
                               tuple(json.loads(r["bbox"])))
                    for r in sorted(rows, key=lambda r: int(r["id"]))]

    def _vector_page(self) -> int:
        dim = self._dim or 1
        return max(256, min(_PAGE, (8 << 20) // (4 * dim + 256)))

    def vectors(self, *, now: str | None = None, person: str | None = None
                ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32],
                           npt.NDArray[np.float32]]:
        """Live (unexpired) samples: (sample ids, person ids, vectors (N, D), qualities)."""
        now = now or utc_now()
        with self._lock:
            space = self.space()
            dim = space.dim if space else 0
            empty = np.zeros(0, dtype=np.int64)
            nothing = empty, empty, np.zeros((0, dim), np.float32), np.zeros(0, np.float32)
            if self._samples() is None:
                return nothing
            expr = _live(now)
            if person is not None:
                row = self._person_row(person)
                if row is None:
                    return nothing
                people = {int(row["id"]): person}
                expr += f" and person_id == {int(row['id'])}"
            else:
                people = self.names()  # a sample whose person is gone is not live
            rows = self._select("samples", expr, ["id", "person_id", "vector", "quality"],
                                key="id", end=self._counter("next_sample"),
                                page=self._vector_page())
            rows = sorted((r for r in rows if int(r["person_id"]) in people),
                          key=lambda r: int(r["id"]))
            if not rows:
                return nothing
            ids = np.array([r["id"] for r in rows], dtype=np.int64)
            owners = np.array([r["person_id"] for r in rows], dtype=np.int64)
            vecs = np.array([r["vector"] for r in rows], dtype=np.float32).reshape(len(rows), -1)
            quality = np.array([r["quality"] for r in rows], dtype=np.float32)
            return ids, owners, vecs, quality

    def search(self, queries: npt.NDArray[np.float32], k: int, *, now: str | None = None
               ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64],
                          npt.NDArray[np.int64]]:
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
        limit = min(k, _PAGE)
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.index_type == "HNSW":
            params["params"] = {"ef": max(128, limit)}
        elif self.index_type in _NPROBE:
            params["params"] = {"nprobe": _NPROBE[self.index_type]}
        expr = _live(now or utc_now())
        step = max(1, min(1024, (16 << 20) // (limit * 24 + 4 * dim)))
        for start in range(0, len(q), step):
            chunk = q[start:start + step]
            hits = self._call("search", self._name("samples"), data=chunk.tolist(), limit=limit,
                              filter=expr, anns_field="vector", search_params=params,
                              output_fields=["person_id"], **self._reads)
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
            return self._count("samples", _live(now or utc_now()))

    def templates(self, person_ids: list[int], *, now: str | None = None
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
            live = _live(now or utc_now())
            sums: dict[int, npt.NDArray[np.float32]] = {}
            for i in range(0, len(wanted), _PEOPLE_PER_QUERY):
                chunk = wanted[i:i + _PEOPLE_PER_QUERY]
                rows = self._select("samples", f"person_id in {chunk} and {live}",
                                    ["id", "person_id", "vector", "quality"], key="id",
                                    end=self._counter("next_sample"), page=self._vector_page())
                for r in rows:
                    vector = np.asarray(r["vector"], dtype=np.float32) * np.float32(r["quality"])
                    pid = int(r["person_id"])
                    sums[pid] = sums[pid] + vector if pid in sums else vector
            out: dict[int, npt.NDArray[np.float32]] = {}
            for pid, total in sums.items():
                norm = max(float(np.linalg.norm(total)), 1e-12)
                out[pid] = (total / norm).astype(np.float32)
            return out

    def remove_person(self, name: str, *, actor: str, action: str = "remove",
                      details: dict[str, Any] | None = None) -> list[int]:
        """Delete a person and every sample of theirs; returns the removed sample ids. The
        samples go first, then the person, then the audit event: a crash leaves the person
        without samples (removing again finishes it), never samples without their person."""
        with self._write():
            person = self.require(name)
            ids: list[int] = []
            if self._samples() is not None:
                rows = self._select("samples", f"person_id == {person.id}", ["id"], key="id",
                                    end=self._counter("next_sample"))
                ids = sorted(int(r["id"]) for r in rows)
            event = {"samples": len(ids), **(details or {})}
            _check_audit(actor, action, name, event)
            self._bump_generation()
            self._delete("samples", ids)
            self._delete("people", [person.id])
            self._people_changed()
            self._audit(actor, action, name, event)
            return ids

    def purge_expired(self, *, actor: str, now: str | None = None) -> list[int]:
        now = now or utc_now()
        with self._write():
            ids: list[int] = []
            if self._samples() is not None:
                rows = self._select("samples", f'expires_at != "" and expires_at <= {_quote(now)}',
                                    ["id"], key="id", end=self._counter("next_sample"))
                ids = sorted(int(r["id"]) for r in rows)
            self._bump_generation()
            self._delete("samples", ids)
            self._audit(actor, "purge-expired", "*", {"samples": len(ids), "before": now})
            return ids

    def compact(self) -> None:
        """Flush, then make deleted people and vectors leave storage. A Milvus server is asked
        to compact (its garbage collector removes the old segment files later, after its
        ``dataCoord.gc.dropTolerance``). Milvus Lite's compact is a no-op, so there the live
        rows of ``samples`` and ``people`` are copied into fresh collections and the old ones
        dropped (their files are deleted, not overwritten); a crash midway is repaired when the
        gallery is next opened."""
        with self._write():
            whats = ["people"] + (["samples"] if self._samples() is not None else [])
            for what in ["meta", "audit", *whats]:
                self._call("flush", self._name(what))
            if self._is_lite:
                for what in whats:
                    self._rewrite(what)
                return
            for what in whats:
                job = self._compact_job(self._name(what))
                deadline = time.monotonic() + self._timeout
                while time.monotonic() < deadline:
                    if str(self._call("get_compaction_state", job)) != "Executing":
                        break
                    time.sleep(0.2)
                else:
                    log.warning("compaction of %s still running after %.0f s", self._name(what),
                                self._timeout)

    def _compact_job(self, name: str) -> int:
        """Ask a server to compact collection ``name``; returns the job id. A 2.3 server reads
        only the request's collection id (pymilvus 3 sends the name): without it, it compacts
        every collection it holds, so there the id is looked up and sent."""
        if self._version >= (2, 4):
            return int(self._call("compact", name))
        from pymilvus.client.prepare import Prepare
        from pymilvus.client.utils import check_status
        from pymilvus.exceptions import MilvusException

        collection = int(self._call("describe_collection", name)["collection_id"])
        request = Prepare.manual_compaction(collection_name=name, is_clustering=False,
                                            is_l0=False, collection_id=collection)
        try:
            stub = self._client._get_connection()._stub
            response = stub.ManualCompaction(request, timeout=self._timeout)
            check_status(response.status)
        except MilvusException as exc:
            raise FacewiseError(f"Milvus compact failed on {self.url}: {exc}") from exc
        return int(response.compactionID)

    def _rewrite(self, what: str) -> None:
        name, fresh = self._name(what), self._name(f"{what}_rewrite")
        if self._call("has_collection", fresh):
            self._call("drop_collection", fresh)
        self._create(what, fresh, self._dim or 0)
        counter = "next_sample" if what == "samples" else "next_person"
        page = self._vector_page() if what == "samples" else _PAGE
        rows = self._select(what, "id >= 0", ["*"], key="id", end=self._counter(counter),
                            page=page)
        clean = [_sample_row(r) for r in rows] if what == "samples" else \
            [{"id": r["id"], "name": r["name"], "created_at": r["created_at"], "pad": _DUMMY}
             for r in rows]
        for i in range(0, len(clean), _BATCH):
            done = self._call("insert", fresh, clean[i:i + _BATCH])
            if int(done.get("insert_count", 0)) != len(clean[i:i + _BATCH]):
                raise FacewiseError(f"rewriting {name}: an insert fell short")
        self._call("flush", fresh)
        copied = self._call("query", fresh, filter="id >= 0", output_fields=["count(*)"],
                            **self._reads)
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

    # --- audit ------------------------------------------------------------------------------------

    def audit(self, actor: str, action: str, subject: str, details: dict[str, Any]) -> AuditEvent:
        _check_audit(actor, action, subject, details)
        with self._write():
            return self._audit(actor, action, subject, details)

    def _tail(self) -> tuple[int, str]:
        """(seq, hash) of the last event. The head in ``meta`` is written after each event, so
        after a crash the events past it are found by probing."""
        seq, digest = 0, GENESIS
        head = self._meta("audit_head")
        if head is not None:
            seq_text, _, digest = head.partition(" ")
            seq = int(seq_text)
        while True:
            row = self._get("audit", seq + 1, ["hash"])
            if row is None:
                return seq, digest
            seq, digest = seq + 1, str(row["hash"])

    def _audit(self, actor: str, action: str, subject: str,
               details: dict[str, Any]) -> AuditEvent:
        actor, subject, details = safe_text(actor), safe_text(subject), redact_paths(details)
        last, prev = self._tail()
        seq, at = last + 1, utc_now()
        digest = event_hash(prev, seq, at, actor, action, subject, details)
        text = json.dumps(details, sort_keys=True)
        self._insert("audit", [{"seq": seq, "at": at, "actor": actor, "action": action,
                                "subject": subject, "details": _chunks(text), "prev_hash": prev,
                                "hash": digest, "pad": _DUMMY}])
        self._set_meta("audit_head", f"{seq} {digest}")
        return AuditEvent(seq, at, actor, action, subject, details, prev, digest)

    def events(self, *, since: int = 0, limit: int | None = None) -> list[AuditEvent]:
        with self._lock:
            last, _ = self._tail()
            end = last + 1 if limit is None else min(last + 1, since + 1 + max(limit, 0))
            if end <= since + 1:
                return []
            fields = ["seq", "at", "actor", "action", "subject", "details", "prev_hash", "hash"]
            rows = self._select("audit", f"seq > {int(since)} and seq < {end}", fields,
                                key="seq", end=end)
            events = [AuditEvent(int(r["seq"]), r["at"], r["actor"], r["action"], r["subject"],
                                 json.loads("".join(r["details"])), r["prev_hash"], r["hash"])
                      for r in sorted(rows, key=lambda r: int(r["seq"]))]
            return events if limit is None else events[:limit]


def _version(text: str) -> tuple[int, int]:
    """(major, minor) of a server version string such as "v2.3.5-lite" or "2.5.10"; (0, 0)
    when there is none (Milvus Lite says "milvus_lite-3.2.2": its version is not the API's)."""
    found = re.match(r"v?(\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def _query(text: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(text).items()}


def _quote(text: str) -> str:
    """A string literal for a Milvus filter expression (the escapes both Milvus and Milvus Lite
    read: backslash, double quote, newline, carriage return, tab)."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def _live(now: str) -> str:
    return f'(expires_at == "" or expires_at > {_quote(now)})'


def _sample_row(row: dict[str, Any]) -> dict[str, Any]:
    """A queried samples row as an insertable one (vector as float32 values)."""
    keys = ("id", "vector", "person_id", "quality", "image_sha256", "source", "consent",
            "enrolled_at", "enrolled_by", "expires_at", "bbox")
    out = {k: row[k] for k in keys}
    out["vector"] = np.asarray(row["vector"], dtype=np.float32).tolist()
    return out


def _chunks(text: str) -> list[str]:
    return [text[i:i + _TEXT_CHARS] for i in range(0, len(text), _TEXT_CHARS)] or [""]


def _check_text(*, limit: int = _TEXT_CHARS, **fields: str) -> None:
    for field, value in fields.items():
        if len(value) > limit:
            raise InvalidInput(f"{field} is {len(value)} characters long; the Milvus gallery "
                               f"stores at most {limit}")


def _check_audit(actor: str, action: str, subject: str, details: dict[str, Any]) -> None:
    """Refuse, before anything is written, an event the audit collection could not hold."""
    _check_text(actor=actor, action=action, subject=subject)
    size = len(json.dumps(details, sort_keys=True))
    if math.ceil(size / _TEXT_CHARS) > _DETAIL_CHUNKS:
        raise InvalidInput(f"audit details of {size} characters; the Milvus gallery stores at "
                           f"most {_DETAIL_CHUNKS * _TEXT_CHARS}")


__all__ = ["MilvusStore"]
