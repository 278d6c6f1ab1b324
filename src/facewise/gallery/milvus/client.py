"""The connection to Milvus: opening the client, every pymilvus call (its errors become
:class:`~facewise.errors.FacewiseError`), batched writes and paged reads, the Milvus Lite
differences (flushing, one server per database and process), consistency, the write lock
shared by the stores of one gallery, and closing."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from facewise.errors import FacewiseError, GalleryUnavailable
from facewise.location import redact

if TYPE_CHECKING:
    from facewise.gallery.milvus.location import Target

log = logging.getLogger(__name__)

PAGE = 16384  # Milvus's largest query window (limit + offset)
BATCH = 4096  # rows per insert / ids per delete
FLUSH_ROWS = 2000  # Milvus Lite: flush after this many rows written (see Connection._wrote)


class Connection:
    """A pymilvus client on one gallery (the collections named ``{prefix}_...``) at ``target``
    (what :func:`~facewise.gallery.milvus.location.resolve` made of ``url``). Every call goes
    through :meth:`_call`; writes hold :attr:`_lock`, one per gallery and process."""

    _locks: ClassVar[dict[str, threading.RLock]] = {}
    _lite_users: ClassVar[dict[str, int]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str, target: Target, *, timeout: float = 60.0) -> None:
        self.url = str(url)
        self._timeout = timeout
        self._lite_path: Path | None = target.lite_path
        self.prefix = target.prefix
        self.index_type = target.index_type  # an existing gallery's wins
        self._reads: dict[str, Any] = {"consistency_level": target.consistency}
        key = f"{target.uri}#{self.prefix}"
        self._gallery_key = key
        with Connection._registry_lock:
            self._lock = Connection._locks.setdefault(key, threading.RLock())
        self._client: Any = None
        self._closed = False
        self._is_lite = False
        self._version: tuple[int, int] = (0, 0)  # the server's (major, minor); Lite: (0, 0)
        self._dirty: set[str] = set()
        self._unflushed = 0
        from pymilvus import MilvusClient  # lazily: importing facewise never imports pymilvus

        if self._lite_path is not None:  # counted before connecting: close() uncounts
            with Connection._registry_lock:
                path = str(self._lite_path)
                Connection._lite_users[path] = Connection._lite_users.get(path, 0) + 1
        try:
            self._client = MilvusClient(uri=target.uri, token=target.token, timeout=timeout)
        except Exception as exc:
            self.close()
            raise self._open_error(exc) from None
        try:
            # by the URL, not the version string: the `milvus` PyPI server says "v2.3.5-lite"
            self._is_lite = self._lite_path is not None
            self._version = _version(str(self._client.get_server_version()))
        except FacewiseError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise self._open_error(exc) from None

    def _open_error(self, exc: BaseException) -> FacewiseError:
        if self._lite_path is not None:
            return GalleryUnavailable(
                f"cannot open the Milvus Lite gallery {self._lite_path}: {exc} (is another "
                "process using it? Milvus Lite allows one process per database)"
            )
        return GalleryUnavailable(f"cannot open the Milvus gallery {redact(self.url)}: {exc}")

    def _name(self, what: str) -> str:
        return f"{self.prefix}_{what}"

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
            names = [
                n
                for n in names
                if "Loaded" not in str(self._call("get_load_state", n).get("state"))
            ]
            if names and time.monotonic() > deadline:
                raise FacewiseError(f"Milvus did not load {names} within {self._timeout:.0f} s")
            if names:
                time.sleep(0.05)

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

    def _query(
        self, what: str, expr: str, fields: list[str], *, limit: int = PAGE
    ) -> list[dict[str, Any]]:
        return list(
            self._call(
                "query",
                self._name(what),
                filter=expr,
                output_fields=fields,
                limit=limit,
                **self._reads,
            )
        )

    def _count(self, what: str, expr: str) -> int:
        rows = self._call(
            "query", self._name(what), filter=expr, output_fields=["count(*)"], **self._reads
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def _select(
        self, what: str, expr: str, fields: list[str], *, key: str, end: int, page: int = PAGE
    ) -> list[dict[str, Any]]:
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
        for i in range(0, len(rows), BATCH):
            chunk = rows[i : i + BATCH]
            done = self._call("insert", self._name(what), chunk)
            if int(done.get("insert_count", len(chunk))) != len(chunk):
                raise FacewiseError(
                    f"Milvus inserted {done.get('insert_count')} of "
                    f"{len(chunk)} rows into {self._name(what)}"
                )
        self._wrote(what, len(rows))

    def _upsert(self, what: str, rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), BATCH):
            self._call("upsert", self._name(what), rows[i : i + BATCH])
        self._wrote(what, len(rows))

    def _delete(self, what: str, ids: Iterable[int | str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), BATCH):
            self._call("delete", self._name(what), ids=ids[i : i + BATCH])
        if ids and not self._is_lite:
            # A 2.3 server answers a delete without its timestamp, so pymilvus cannot make the
            # Session reads that follow wait for it: one Strong read does (the query node
            # applies deletes in order, so every later read sees this one).
            self._call("get", self._name(what), ids=ids[:1], consistency_level="Strong")
        self._wrote(what, len(ids))

    def _wrote(self, what: str, rows: int) -> None:
        """Milvus Lite keeps writes in an in-memory table (up to 128 MB) that every query and
        search scans without an index (~150 ms a search at 10,000 faces, ~7 ms once flushed into
        an indexed segment), so flush after every FLUSH_ROWS rows written, and on close."""
        if not self._is_lite or not rows:
            return
        self._dirty.add(what)
        self._unflushed += rows
        if self._unflushed >= FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        for what in sorted(self._dirty):
            self._call("flush", self._name(what))
        self._dirty.clear()
        self._unflushed = 0

    def _get(self, what: str, key: int | str, fields: list[str]) -> dict[str, Any] | None:
        rows = self._call("get", self._name(what), ids=[key], output_fields=fields, **self._reads)
        return dict(rows[0]) if rows else None

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
        with Connection._registry_lock:
            users = Connection._lite_users.get(path, 0) - 1
            if users > 0:
                Connection._lite_users[path] = users
                return
            Connection._lite_users.pop(path, None)
        try:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(path)
        except ImportError:  # pragma: no cover - pymilvus found no milvus-lite either
            pass

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
        request = Prepare.manual_compaction(
            collection_name=name, is_clustering=False, is_l0=False, collection_id=collection
        )
        try:
            stub = self._client._get_connection()._stub
            response = stub.ManualCompaction(request, timeout=self._timeout)
            check_status(response.status)
        except MilvusException as exc:
            raise FacewiseError(f"Milvus compact failed on {self.url}: {exc}") from exc
        return int(response.compactionID)


def _version(text: str) -> tuple[int, int]:
    """(major, minor) of a server version string such as "v2.3.5-lite" or "2.5.10"; (0, 0)
    when there is none (Milvus Lite says "milvus_lite-3.2.2": its version is not the API's)."""
    found = re.match(r"v?(\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2])) if found else (0, 0)


__all__ = ["BATCH", "FLUSH_ROWS", "PAGE", "Connection"]
