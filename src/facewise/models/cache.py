"""A per-user cache of converted model graphs (the dlib ResNet's ONNX graph), so that a process
does not rebuild them from the weights at every start (~2 s for the ResNet on 2 cores).

Where: ``$FACEWISE_CACHE``, else ``$XDG_CACHE_HOME/facewise``, else ``~/.cache/facewise``; the
folder is created (mode 0700) on the first write, never at import time.

A cache file is ``<kind>-<source sha256[:16]>-c<converter version>.onnx``: a magic line, one JSON
header line (kind, the source file's full sha256, the converter version, the payload's size and
sha256), then the payload. It is used only when every field matches and the payload's sha256 is
right; otherwise it is rebuilt and rewritten (to a temporary file in the same folder, then renamed
over, so a reader never sees half a file). Files of the same kind with another key, and temporary
files over an hour old, are removed on write. A folder that cannot be created or written means no
cache (one log line), never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from facewise.files import atomic_write

log = logging.getLogger(__name__)

MAGIC = b"facewise-graph-cache 1\n"


def cache_dir() -> Path:
    """The user cache folder (not created here)."""
    if os.environ.get("FACEWISE_CACHE"):
        return Path(os.environ["FACEWISE_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "facewise"
    return Path.home() / ".cache" / "facewise"


def cache_path(kind: str, source_sha256: str, converter: str) -> Path:
    return cache_dir() / f"{kind}-{source_sha256[:16]}-c{converter}.onnx"


def _read(path: Path, header: dict[str, object]) -> bytes | None:
    """The payload of a valid cache file, or None (missing, stale or corrupt; logged)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.info("graph cache %s cannot be read (%s); rebuilding", path, exc)
        return None
    try:
        if not data.startswith(MAGIC):
            raise ValueError("not a facewise cache file")
        end = data.index(b"\n", len(MAGIC))
        found = json.loads(data[len(MAGIC) : end])
        payload = data[end + 1 :]
        for key, want in header.items():
            if found.get(key) != want:
                raise ValueError(f"stale ({key} is {found.get(key)!r}, expected {want!r})")
        if found.get("bytes") != len(payload):
            raise ValueError(f"truncated ({len(payload)} of {found.get('bytes')} bytes)")
        if found.get("sha256") != hashlib.sha256(payload).hexdigest():
            raise ValueError("corrupt (payload checksum mismatch)")
    except ValueError as why:  # json.JSONDecodeError is a ValueError too
        log.info("graph cache %s is unusable: %s; rebuilding", path, why)
        return None
    return payload


def _write(path: Path, header: dict[str, object], payload: bytes) -> bool:
    folder = path.parent
    try:
        created = not folder.exists()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if created:
            folder.chmod(0o700)  # mkdir's mode is masked by the umask
        meta = {**header, "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
        atomic_write(path, [MAGIC + json.dumps(meta, sort_keys=True).encode() + b"\n", payload])
    except OSError as exc:
        log.info("graph cache folder %s is not writable (%s): no cache", folder, exc)
        return False
    kind = str(header["kind"])
    for old in folder.glob(f"{kind}-*.onnx"):  # other keys of the same graph are stale now
        if old != path:
            with contextlib.suppress(OSError):
                old.unlink()
    for tmp_left in folder.glob(f".{kind}-*.tmp"):  # a writer killed mid-write, an hour ago
        with contextlib.suppress(OSError):
            if time.time() - tmp_left.stat().st_mtime > 3600:
                tmp_left.unlink()
    return True


def cached_graph(
    kind: str, *, source_sha256: str, converter: str, build: Callable[[], bytes]
) -> bytes:
    """The graph ``build()`` returns, from the cache when a valid copy of it is there (same kind,
    source sha256 and converter version; payload checksum verified), else built and stored."""
    header: dict[str, object] = {
        "kind": kind,
        "source_sha256": source_sha256,
        "converter": converter,
    }
    try:
        path = cache_path(kind, source_sha256, converter)
    except RuntimeError as exc:  # Path.home(): no HOME and no passwd entry
        log.info("no graph cache folder (%s): no cache", exc)
        return build()
    payload = _read(path, header)
    if payload is not None:
        log.debug("graph cache hit: %s", path)
        return payload
    payload = build()
    if _write(path, header, payload):
        log.info("graph cache: wrote %s (%.1f MB)", path, len(payload) / 1e6)
    return payload


__all__ = ["cache_dir", "cache_path", "cached_graph"]
