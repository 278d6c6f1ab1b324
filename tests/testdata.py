"""Where the real datasets are, and how tests read them (never copied into the repo). A module of
its own, not conftest.py: several test folders have a conftest of their own, and only one module
can be named ``conftest`` on sys.path."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("FACEWISE_SHARED", ROOT.parent / "shared")) / "datasets"


def dataset(relative: str) -> Path:
    path = DATASETS / relative
    if not path.is_dir():
        if DATASETS.is_dir():  # the datasets are here but not this one: a failure, not a skip
            pytest.fail(f"dataset {relative} missing from {DATASETS}")
        pytest.skip(f"dataset {relative} not found under {DATASETS}")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))
