"""Helpers shared by the REST service tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from facewise.server.keys import KeyStore
from facewise.settings import Settings

LEAKS = ("Traceback", 'File "', "/work/", "site-packages", "/usr/lib/python", "/root/")
"""What no response body may contain: tracebacks and server paths."""


@dataclass
class Api:
    client: TestClient
    home: Path
    keys: dict[str, str]  # "admin", "enrol", "read", "revoked" -> the key

    @property
    def app(self) -> FastAPI:
        """The app under test (TestClient types it as any ASGI app)."""
        app = self.client.app
        assert isinstance(app, FastAPI)
        return app

    def auth(self, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def call(self, method: str, url: str, who: str | None = "admin", **kw: Any) -> Any:
        headers = {**(self.auth(who) if who else {}), **kw.pop("headers", {})}
        response = self.client.request(method, url, headers=headers, **kw)
        assert_no_leak(response.text, self.home)
        return response


def assert_no_leak(text: str, home: Path) -> None:
    for bad in (*LEAKS, str(home), str(home.resolve())):
        assert bad not in text, f"response leaks {bad!r}: {text[:300]}"


def make_keys(home: Path) -> dict[str, str]:
    with KeyStore(home) as store:
        keys = {
            "admin": store.create("admin", name="admin")[0],
            "enrol": store.create("enrol", name="enroller")[0],
            "read": store.create("read", name="reader")[0],
            "revoked": store.create("read", name="gone")[0],
        }
        store.revoke("gone")
    return keys


def settings_for(home: Path, **changes: Any) -> Settings:
    """Defaults (not the environment) with ``home``; the rate limit off unless asked for."""
    return dataclasses.replace(Settings(), home=home, **{"rate_limit": 0.0, **changes})
