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

Layout: :mod:`.location` (what the URL means to pymilvus), :mod:`.client` (the connection and
every call), :mod:`.schema` (collections, fields, indexes, ``meta``), :mod:`.audit`,
:mod:`.people`, :mod:`.search` (the read side of identification) and :mod:`.store`
(:class:`MilvusStore`: opening, enrolment, removal, expiry, compaction). Importing this package
does not import pymilvus.
"""

from __future__ import annotations

from facewise.gallery.milvus.store import MilvusStore

__all__ = ["MilvusStore"]
