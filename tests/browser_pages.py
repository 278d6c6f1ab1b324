"""A browser page on the service, watched for script errors and dialogs (the browser tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# Flags that keep Debian's Chromium off the (closed) network and working as root in a sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Seen:
    page: Any
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def watched_page(browser: Any, url: str, *, timeout_ms: float) -> Iterator[Seen]:
    """The page at ``url`` (1280 x 900); on leaving, no script error and no dialog may have
    happened (a dialog is dismissed and recorded: an ``alert`` from injected markup fails)."""
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    out = Seen(page)

    def on_dialog(d: Any) -> None:
        out.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: out.errors.append(str(e)))
    page.goto("/")
    yield out
    context.close()
    assert out.errors == [], "script errors in the page"
    assert out.dialogs == [], "the page opened a dialog"
