"""Building an index of the right kind, and its cache file (save / load with checks)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewise.errors import InvalidInput
from facewise.files import atomic_write
from facewise.gallery.index import base
from facewise.gallery.index.base import (
    _FORMAT,
    _KINDS,
    _MAGIC,
    _MAX_HEADER,
    Ids,
    VectorIndex,
    Vectors,
    _check_ids,
    _check_vectors,
    _faiss,
    _Store,
    faiss_available,
)
from facewise.gallery.index.exact import ExactIndex
from facewise.gallery.index.ivf import IVFIndex

log = logging.getLogger("facewise.gallery.index")


def build_index(
    ids: Ids, vectors: Vectors, *, dim: int, kind: str = "auto", copy: bool = True
) -> VectorIndex:
    """An index over ``vectors`` (N, dim) float32, L2-normalised, keyed by ``ids`` (N,) int64.

    ``kind``: ``"exact"``, ``"ivf"`` or ``"auto"`` (exact below :data:`EXACT_LIMIT` vectors, ivf
    from it on). Building an ivf index trains it (about a minute at 1M x 128 on 2 cores). The ivf
    index needs FAISS (``pip install 'facewise[scale]'``): without it ``"auto"`` stays exact with
    a logged warning, and ``"ivf"`` raises :class:`~facewise.extras.MissingExtra`.
    ``copy=False`` hands ``ids`` and ``vectors`` over to the index instead of copying them (when
    they are int64 and C-contiguous float32 already): the index then rewrites them on removal, and
    the caller must not change them. A gallery rebuilt from its database needs no second copy of
    its vectors that way (5 GB at 10M x 128).
    """
    ids = _check_ids(ids)
    if kind not in ("auto", *_KINDS):
        raise InvalidInput(f"unknown index kind {kind!r}; expected auto, exact or ivf")
    if not len(ids):
        vectors = np.zeros((0, dim), np.float32)
        if kind == "ivf":
            raise InvalidInput("an ivf index cannot be trained on an empty gallery")
    else:
        vectors = _check_vectors(vectors, dim, "vectors")
    if len(vectors) != len(ids):
        raise InvalidInput(f"{len(ids)} ids for {len(vectors)} vectors")
    if kind == "auto":
        kind = "exact" if len(ids) < base.EXACT_LIMIT else "ivf"
        if kind == "ivf" and not faiss_available():
            # Stay exact (recall 1, ~1.2 ms a query per 100k vectors): a gallery that grows past
            # the limit keeps working, only slower, rather than failing on its next search.
            log.warning(
                "%d vectors: FAISS is not installed, so the gallery keeps an exact index "
                "(slower above %d vectors); pip install 'facewise[scale]' for the ivf "
                "index",
                len(ids),
                base.EXACT_LIMIT,
            )
            kind = "exact"
    if kind == "exact":
        return ExactIndex(dim, ids, vectors, copy=copy)
    return IVFIndex.train(ids, vectors, dim=dim, copy=copy)


def save_index(index: VectorIndex, path: Path, *, generation: int, space_key: str) -> None:
    """Write ``index`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    Layout: the 8-byte magic ``FWVINDEX``, a little-endian uint32 header length, a UTF-8 JSON
    header (format, generation, space_key, dim, kind, count, parameters, section sizes,
    payload sha256), then the payload: ids (count,) int64 LE, vectors (count, dim) float32 LE and,
    for ivf, the FAISS index as ``faiss.serialize_index`` writes it.
    """
    if not isinstance(index, ExactIndex | IVFIndex):
        raise InvalidInput(f"cannot save a {type(index).__name__}")
    path = Path(path)
    with index._lock.read():
        params, sections = index._payload()
        digest = hashlib.sha256()
        for section in sections:
            digest.update(section)
        header = {
            "format": _FORMAT,
            "generation": int(generation),
            "space_key": str(space_key),
            "dim": index.dim,
            "kind": index.kind,
            "count": len(index),
            "params": params,
            "sections": [len(s) for s in sections],
            "payload_sha256": digest.hexdigest(),
        }
        head = json.dumps(header, sort_keys=True).encode()
        atomic_write(
            path, [_MAGIC + len(head).to_bytes(4, "little") + head, *sections], sync_folder=True
        )


class _Reject(Exception):
    """Why an index file is not used."""


def load_index(path: Path, *, generation: int, space_key: str) -> VectorIndex | None:
    """The index saved at ``path``, or ``None`` (with a logged warning, never an exception) when
    the file is missing, stale (another generation or space_key), truncated or corrupt."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return _read(fh, generation=generation, space_key=space_key)
    except FileNotFoundError:
        log.warning("vector index %s is missing; it will be rebuilt", path)
    except _Reject as why:
        log.warning("vector index %s is %s; it will be rebuilt", path, why)
    except Exception as exc:  # a cache must never stop the gallery
        log.warning(
            "vector index %s cannot be read (%s: %s); it will be rebuilt",
            path,
            type(exc).__name__,
            exc,
        )
    return None


def _read_exact(fh: io.BufferedReader, out: npt.NDArray[Any], digest: Any) -> None:
    view = out.reshape(-1).data.cast("B")  # a flat view (an empty (0, D) one cannot be cast)
    got = 0
    while got < len(view):
        n = fh.readinto(view[got:])
        if not n:
            raise _Reject(f"truncated ({got} of {len(view)} bytes of a section)")
        got += n
    digest.update(view)


def _read(fh: io.BufferedReader, *, generation: int, space_key: str) -> VectorIndex:
    if fh.read(len(_MAGIC)) != _MAGIC:
        raise _Reject("not a facewise vector index (bad magic)")
    size = int.from_bytes(fh.read(4), "little")
    if not 0 < size <= _MAX_HEADER:
        raise _Reject("corrupt (bad header length)")
    raw = fh.read(size)
    if len(raw) != size:
        raise _Reject("truncated (header)")
    try:
        head = json.loads(raw)
        fmt, gen, key = head["format"], head["generation"], head["space_key"]
        dim, kind, count = int(head["dim"]), head["kind"], int(head["count"])
        sections = [int(s) for s in head["sections"]]
        params, expected = head["params"], str(head["payload_sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _Reject(f"corrupt (header: {exc})") from exc
    if fmt != _FORMAT:
        raise _Reject(f"of format {fmt}, not {_FORMAT}")
    if gen != generation or key != space_key:
        raise _Reject(
            f"stale (generation {gen}, space {key}; the gallery is at generation "
            f"{generation}, space {space_key})"
        )
    if kind not in _KINDS or dim < 1 or count < 0:
        raise _Reject("corrupt (header values)")
    wanted = [count * 8, count * dim * 4]
    if sections[:2] != wanted or len(sections) != (2 if kind == "exact" else 3):
        raise _Reject("corrupt (section sizes do not match the count)")
    digest = hashlib.sha256()
    ids = np.empty(count, "<i8")
    vectors = np.empty((count, dim), "<f4")
    _read_exact(fh, ids, digest)
    _read_exact(fh, vectors, digest)
    blob = np.empty(sections[2] if kind == "ivf" else 0, np.uint8)
    _read_exact(fh, blob, digest)
    if fh.read(1):
        raise _Reject("corrupt (trailing bytes)")
    if digest.hexdigest() != expected:
        raise _Reject("corrupt (payload checksum mismatch)")
    ids, vectors = ids.astype(np.int64, copy=False), vectors.astype(np.float32, copy=False)
    store = _Store(dim, ids, vectors, copy=False)
    if kind == "exact":
        index = ExactIndex(dim)
        index._store = store
        return index
    faiss = _faiss()
    inner = faiss.deserialize_index(blob)
    if inner.d != dim or inner.ntotal != count:
        raise _Reject("corrupt (the FAISS index does not match the header)")
    return IVFIndex(
        dim,
        inner,
        store,
        nprobe=int(params["nprobe"]),
        trained_for=int(params["trained_for"]),
        rerank=int(params["rerank"]),
    )
