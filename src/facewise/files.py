"""Files facewise creates for its own state (galleries, key stores): private to their owner."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def private_file(path: Path) -> None:
    """Create ``path`` (0600) and a missing parent folder (0700) before a database opens it, so
    new state is readable by its owner only (SQLite gives the WAL the database's mode). An
    existing file or folder is left as it is."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
    if not path.exists():
        with contextlib.suppress(OSError):  # the database reports what is wrong with the path
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def atomic_write(
    path: Path, chunks: Iterable[bytes | memoryview], *, sync_folder: bool = False
) -> None:
    """Write ``chunks`` to ``path`` so that a reader sees the old file or the whole new one,
    never half of it: a temporary file in the same folder, fsync'd, then renamed over ``path``
    (removed again if anything fails). ``sync_folder`` also makes the rename itself durable."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_folder:
        with contextlib.suppress(OSError):  # POSIX: the folder's entry, too
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


__all__ = ["atomic_write", "private_file"]
