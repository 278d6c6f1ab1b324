"""Every command's HTML report opens in headless Chromium with all its plots, and carries the
same numbers as the command's --json output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import Run

pytestmark = [pytest.mark.models, pytest.mark.data]

RUNS = ["verify_run", "identify_run", "fairness_run", "robustness_run", "budget_run", "compare_run"]


@dataclass(frozen=True)
class Opened:
    """What a report showed in the browser."""

    images: list[list[Any]]
    """[complete, naturalWidth, naturalHeight] of every <img>."""
    blocked: list[str]
    """Requests to anything but file: and data: URLs (aborted)."""
    embedded: dict[str, Any]
    title: str
    text: str


def open_report(browser: Any, report: Path) -> Opened:
    """Open ``report`` in the headless browser with every non-local request blocked."""
    page = browser.new_page()
    blocked: list[str] = []

    def on_route(route: Any) -> None:
        if not route.request.url.startswith(("file:", "data:")):
            blocked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", on_route)
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    sizes = page.evaluate(
        "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    embedded = json.loads(page.locator("#facewise-result").text_content() or "{}")
    opened = Opened(sizes, blocked, embedded, page.title(), page.locator("body").inner_text())
    page.close()
    return opened


def check_opened(opened: Opened, data: dict[str, Any]) -> None:
    """Every plot loaded, nothing fetched, the embedded JSON is the command's (less
    ``report``), and the method notes are there."""
    assert len(opened.images) >= 1
    assert all(done and w > 0 and h > 0 for done, w, h in opened.images), opened.images
    assert opened.blocked == []  # self-contained: nothing fetched from anywhere
    assert opened.embedded == {k: v for k, v in data.items() if k != "report"}
    assert opened.title and "How these figures were made" in opened.text


@pytest.mark.parametrize("name", RUNS)
def test_report_opens_with_its_plots(
    name: str, request: pytest.FixtureRequest, browser: Any
) -> None:
    run: Run = request.getfixturevalue(name)
    assert run.data["report"] == str(run.report)
    opened = open_report(browser, run.report)
    check_opened(opened, run.data)
    text = opened.text
    headline = {
        "verify_run": lambda d: f"{100 * d['accuracy']:.2f}%",
        "identify_run": lambda d: f"{100 * d['rank1']:.2f}%",
        "fairness_run": lambda d: f"{d['threshold']:.4f}",
        "robustness_run": lambda d: f"{100 * d['clean']['accuracy']:.2f}%",
        "budget_run": lambda d: d["configs"][0]["config"],
        "compare_run": lambda d: f"{100 * d['systems'][1]['accuracy']:.2f}%",
    }[name](run.data)
    assert headline in text
