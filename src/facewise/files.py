"""Files facewise creates for its own state (galleries, key stores): private to their owner."""

from __future__ import annotations

import contextlib
import os
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


__all__ = ["private_file"]
