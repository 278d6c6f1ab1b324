"""Fixtures for the REST service tests: one app per session on a fresh FACEWISE_HOME, sharing
the session's Engine (models load once), with a key of each scope."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facewise.server.app import create_app

from .server_helpers import Api, make_keys, settings_for


@pytest.fixture(scope="session")
def make_api(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Api]]:
    """Start an app on a fresh home with the given setting changes (stopped at session end)."""
    started: list[TestClient] = []

    def make(name: str, **changes: Any) -> Api:
        home = tmp_path_factory.mktemp(name) / "home"
        keys = make_keys(home)
        client = TestClient(create_app(settings_for(home, **changes), engine=engine))
        client.__enter__()  # runs the lifespan: warm-up, gallery, key store
        started.append(client)
        return Api(client, home, keys)

    yield make
    for client in started:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def api(make_api: Callable[..., Api]) -> Api:
    return make_api("api")


@pytest.fixture(scope="session")
def lfw_people(lfw: Path) -> dict[str, list[Path]]:
    """Sorted photos of some LFW people with many images."""
    by: dict[str, list[Path]] = {}
    with (lfw / "manifest.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            by.setdefault(row["identity"], []).append(lfw / row["path"])
    names = ("Colin_Powell", "Tony_Blair", "Hugo_Chavez", "Jacques_Chirac", "Laura_Bush")
    return {n: sorted(by[n]) for n in names}
