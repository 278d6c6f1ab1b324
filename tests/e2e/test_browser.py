"""The web page, end to end: headless Chromium drives GET / of a real ``facewise serve``, with
real LFW faces. One server for the module (see conftest.py); each test has its own browser tab.

LFW holds only two photos of Aaron Sorkin, so the person enrolled and recognised is Adam Sandler
(three photos, all single-face, recognised above the default threshold).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.models, pytest.mark.data]

SLOW = 30_000  # ms: an API call on a busy 2-core machine
HOSTILE = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Photos:
    enrol: list[Path]  # Adam Sandler, enrolled
    probe: Path  # a third photo of Adam Sandler
    stranger: Path  # someone never enrolled
    bystander: Path  # someone else enrolled, so the gallery is never empty
    hostile: Path  # the face enrolled under a hostile name
    keyboard: Path  # identified by keyboard only


@pytest.fixture(scope="module")
def photos(lfw: Path) -> Photos:
    images = lfw / "images"

    def photo(person: str, n: int) -> Path:
        path = images / person / f"{person}_{n:04d}.jpg"
        if not path.is_file():
            pytest.skip(f"{path} not found")
        return path

    return Photos(
        enrol=[photo("Adam_Sandler", 1), photo("Adam_Sandler", 2)],
        probe=photo("Adam_Sandler", 3),
        stranger=photo("Aaron_Patterson", 1),
        bystander=photo("Al_Pacino", 1),
        hostile=photo("Abel_Pacheco", 1),
        keyboard=photo("Aaron_Sorkin", 1),
    )


@dataclass
class Tab:
    """One browser tab on the page, with what it saw: dialogs and script errors."""

    page: Any
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def use_key(self, key: str) -> None:
        self.page.get_by_role("textbox", name="API key").fill(key)
        self.page.get_by_role("button", name="Use key").click()

    def enrol(self, name: str, files: list[Path], *, consent: str, source: str = "") -> None:
        page = self.page
        form = page.locator("#enrol-form")
        form.get_by_label("Name").fill(name)
        form.get_by_label("Consent basis").fill(consent)
        form.get_by_label("Source (optional)").fill(source)
        form.get_by_label("Photos (one face each; several allowed)", exact=True).set_input_files(
            [str(f) for f in files]
        )
        form.get_by_role("button", name="Enrol").click()

    def identify(self, photo: Path) -> None:
        form = self.page.locator("#identify-form")
        form.get_by_label("Photo").set_input_files(str(photo))
        self.page.locator("#identify-status").evaluate("node => { node.textContent = '' }")
        form.get_by_role("button", name="Identify").click()
        expect(self.page.locator("#identify-status")).to_contain_text("Found", timeout=SLOW)

    def face_names(self) -> list[str]:
        return [
            t.strip() for t in self.page.locator("#identify-result .face-name").all_inner_texts()
        ]


_SHOTS = os.environ.get("FACEWISE_SCREENSHOTS")
SCREENSHOTS = Path(_SHOTS) if _SHOTS else None
"""Where to save screenshots of the page for a person to look at (unset: none are taken)."""


def expect(actual: Any) -> Any:
    """Playwright's expect, imported late (as the browser fixture does)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(actual)


@pytest.fixture
def tab(browser: Any, server: Any) -> Iterator[Tab]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    seen = Tab(page)

    def on_dialog(d: Any) -> None:
        seen.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    page.goto("/")
    yield seen
    context.close()
    assert seen.errors == [], "script errors in the page"
    assert seen.dialogs == [], "the page opened a dialog"


def canvas_colour_pixels(page: Any, rgb: tuple[int, int, int]) -> int:
    """How many pixels of the result canvas have exactly this colour (the drawn boxes)."""
    return int(
        page.evaluate(
            """([r, g, b]) => {
                const canvas = document.querySelector('#identify-result canvas');
                const data = canvas.getContext('2d')
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                let n = 0;
                for (let i = 0; i < data.length; i += 4) {
                    if (data[i] === r && data[i + 1] === g && data[i + 2] === b) n++;
                }
                return n;
            }""",
            list(rgb),
        )
    )


GREEN = (0x0A, 0x7D, 0x32)  # a recognised face's box (app.js)
AMBER = (0xB4, 0x53, 0x09)  # an unknown face's box


def test_page_is_labelled_and_self_contained(tab: Tab, server: Any) -> None:
    """Every control has a label; every resource comes from the server itself (offline)."""
    page = tab.page
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea'))
            .filter((i) => !i.labels || i.labels.length === 0).map((i) => i.id)"""
    )
    assert unlabelled == []
    resources = page.evaluate(
        """() => Array.from(document.querySelectorAll('[src], link[href]'))
            .map((n) => n.src || n.href)"""
    )
    assert resources, "no stylesheet or script found"
    for url in resources:
        assert url.startswith((server.url + "/", "data:")), url
    assert page.evaluate("() => document.styleSheets.length") >= 1
    assert page.evaluate("() => getComputedStyle(document.body).marginTop") == "0px"  # style.css
    expect(page.locator("main#main")).to_have_count(1)  # the skip link's target
    expect(page.locator("[aria-live]")).not_to_have_count(0)


def test_wrong_key_shows_the_error_region(tab: Tab) -> None:
    page = tab.page
    error = page.locator("#error")
    expect(error).to_be_hidden()
    tab.use_key("fw_00000000_" + "x" * 43)
    expect(error).to_be_visible(timeout=SLOW)
    expect(error).to_have_attribute("role", "alert")
    expect(page.locator("#error-text")).to_contain_text("HTTP 401")
    expect(page.locator("#whoami")).to_contain_text("not accepted")
    # the key lives in this tab's session storage only: never local storage, never the URL
    assert page.evaluate("() => localStorage.length") == 0
    assert page.evaluate("() => sessionStorage.getItem('facewise.apiKey')").startswith("fw_")
    assert "fw_" not in page.url
    page.get_by_role("button", name="Dismiss").click()
    expect(error).to_be_hidden()


def test_enrol_identify_verify_forget_audit(tab: Tab, server: Any, photos: Photos) -> None:
    page = tab.page
    tab.use_key(server.key)
    expect(page.locator("#whoami")).to_contain_text("admin", timeout=SLOW)

    status = page.locator("#enrol-status")
    tab.enrol("Al Pacino", [photos.bystander], consent="public photo")
    expect(status).to_contain_text("Al Pacino: 1 sample enrolled", timeout=SLOW)
    tab.enrol("Adam Sandler", photos.enrol, consent="signed form 2026-11-30", source="LFW")
    expect(status).to_contain_text("Adam Sandler: 2 samples enrolled", timeout=SLOW)

    # a third photo of him: his name on the result list, the canvas and its text alternative
    tab.identify(photos.probe)
    assert tab.face_names() == ["Adam Sandler"]
    expect(page.locator("#identify-status")).to_contain_text("1. Adam Sandler")
    canvas = page.locator("#identify-result canvas")
    expect(canvas).to_have_attribute("aria-label", "The photo with faces marked: 1. Adam Sandler")
    assert canvas_colour_pixels(page, GREEN) > 100
    # the score read as a rate for this gallery, not a bare number
    odds = page.locator("#identify-result .odds")
    expect(odds).to_contain_text("against this gallery of 2 people about 1 time in")
    if SCREENSHOTS:
        for width in (1280, 360):
            page.set_viewport_size({"width": width, "height": 900})
            section = page.locator("section", has=page.locator("#identify-result"))
            section.screenshot(path=str(SCREENSHOTS / f"identify-{width}.png"))
        page.set_viewport_size({"width": 1024, "height": 800})

    # someone never enrolled: unknown, drawn as such
    tab.identify(photos.stranger)
    assert tab.face_names() == ["unknown"]
    expect(page.locator("#identify-result li.face")).to_contain_text("below the threshold")
    assert canvas_colour_pixels(page, AMBER) > 100

    verify = page.locator("#verify-form")
    verify.get_by_label("First photo").set_input_files(str(photos.probe))
    verify.get_by_label("Second photo").set_input_files(str(photos.enrol[0]))
    verify.get_by_role("button", name="Verify").click()
    expect(page.locator("#verify-status")).to_contain_text("Same person", timeout=SLOW)
    expect(page.locator("#verify-result")).to_contain_text("Threshold")
    expect(page.locator("#verify-result")).to_contain_text("Stranger pairs this alike")
    if SCREENSHOTS:
        for width in (1280, 360):
            page.set_viewport_size({"width": width, "height": 900})
            section = page.locator("section", has=page.locator("#verify-result"))
            section.screenshot(path=str(SCREENSHOTS / f"verify-{width}.png"))
        page.set_viewport_size({"width": 1024, "height": 800})

    # people: his samples with their consent
    page.get_by_role("button", name="Load people").click()
    people = page.locator("#people-result")
    expect(people).to_contain_text("Adam Sandler", timeout=SLOW)
    expect(people).to_contain_text("2 samples")
    page.get_by_role("button", name="Show samples of Adam Sandler").click()
    detail = page.locator("#person-detail")
    expect(detail.locator("ol.samples > li")).to_have_count(2, timeout=SLOW)
    expect(detail.locator("ol.samples > li").first).to_contain_text("signed form 2026-11-30")
    expect(detail).to_contain_text("LFW")
    expect(page.locator("#person-heading")).to_be_focused()

    # forget: a confirmation step, then the receipt (shown and downloadable)
    page.get_by_role("button", name="Forget… Adam Sandler").click()
    confirm = page.locator("#forget-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("cannot be undone")
    page.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(page.locator("#forget-status")).to_contain_text("Cancelled")
    page.get_by_role("button", name="Forget… Adam Sandler").click()
    page.get_by_role("button", name="Yes, forget Adam Sandler").click()
    receipt_text = page.locator("#forget-result pre.receipt")
    expect(receipt_text).to_contain_text("Adam Sandler", timeout=SLOW)
    receipt = json.loads(receipt_text.inner_text())
    assert isinstance(receipt, dict)
    assert "Adam Sandler" in json.dumps(receipt)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the receipt").click()
    download = download_info.value
    assert download.suggested_filename == "facewise-erasure-receipt-Adam_Sandler.json"
    assert json.loads(Path(download.path()).read_text()) == receipt
    expect(people).not_to_contain_text("Adam Sandler", timeout=SLOW)

    # he is gone: the same photo is now unknown
    tab.identify(photos.probe)
    assert tab.face_names() == ["unknown"]

    # the audit log has the forget event, and its chain holds
    page.get_by_role("button", name="Load audit log").click()
    events = page.locator("#audit-result li.event")
    forget = events.filter(has=page.locator(".event-action", has_text=re.compile(r"^forget$")))
    expect(forget.filter(has_text="Adam Sandler")).to_have_count(1, timeout=SLOW)
    page.get_by_role("button", name="Verify the chain").click()
    expect(page.locator("#audit-verify-status")).to_contain_text("intact", timeout=SLOW)


def test_hostile_name_is_shown_as_text(tab: Tab, server: Any, photos: Photos) -> None:
    page = tab.page
    tab.use_key(server.key)
    expect(page.locator("#whoami")).to_contain_text("admin", timeout=SLOW)
    tab.enrol(HOSTILE, [photos.hostile], consent=HOSTILE)
    expect(page.locator("#enrol-status")).to_contain_text(f"{HOSTILE}: 1 sample", timeout=SLOW)

    tab.identify(photos.hostile)  # the enrolled photo itself: certainly recognised
    assert tab.face_names() == [HOSTILE]

    page.get_by_role("button", name="Load people").click()
    expect(page.locator("#people-result")).to_contain_text(HOSTILE, timeout=SLOW)
    page.get_by_role("button", name=f"Show samples of {HOSTILE}").click()  # the name in a URL
    expect(page.locator("#person-heading")).to_have_text(HOSTILE, timeout=SLOW)
    expect(page.locator("#person-detail")).to_contain_text(HOSTILE)  # the consent text

    assert page.locator("img").count() == 0, "an <img> element was created from a name"
    assert page.evaluate("() => document.querySelectorAll('[onerror]').length") == 0
    page.wait_for_timeout(200)  # give a broken image's onerror a chance to fire
    assert tab.dialogs == []


def test_keyboard_only(tab: Tab, server: Any, photos: Photos) -> None:
    """Skip link, key form and identify form with Tab, Enter and Space only."""
    page = tab.page
    keyboard = page.keyboard

    def focused() -> str:
        return str(
            page.evaluate("() => document.activeElement.id || document.activeElement.textContent")
        )

    keyboard.press("Tab")
    assert focused() == "Skip to main content"
    expect(page.locator(".skip-link")).to_be_in_viewport()
    keyboard.press("Enter")
    assert focused() == "main"

    keyboard.press("Tab")
    assert focused() == "api-key"
    keyboard.type(server.key)
    keyboard.press("Enter")  # submits the key form
    expect(page.locator("#whoami")).to_contain_text("admin", timeout=SLOW)

    visited = []
    for _ in range(40):
        keyboard.press("Tab")
        visited.append(focused())
        if visited[-1] == "identify-image":
            break
    assert visited[-1] == "identify-image", visited
    order = ["enrol-name", "enrol-consent", "enrol-source", "enrol-expires", "enrol-images"]
    # the order of the page (a date input takes one Tab per field: day, month, year)
    stops = [v for v in visited if v in order]
    assert [v for i, v in enumerate(stops) if i == 0 or stops[i - 1] != v] == order, visited

    with page.expect_file_chooser() as chooser:
        keyboard.press("Space")  # opens the file picker, as a keyboard user would
    chooser.value.set_files(str(photos.keyboard))
    assert focused() == "identify-image"

    keyboard.press("Tab")
    assert focused() == "identify-top"
    keyboard.press("Tab")
    button = page.locator("#identify-form button[type=submit]")
    expect(button).to_be_focused()
    outline = button.evaluate(
        "b => getComputedStyle(b).outlineStyle + ' ' + getComputedStyle(b).outlineWidth"
    )
    assert outline.startswith("solid") and not outline.endswith(" 0px"), outline
    keyboard.press("Space")
    expect(page.locator("#identify-status")).to_contain_text("Found 1 face", timeout=SLOW)
    expect(page.locator("#identify-status")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#identify-result .face-name")).to_have_count(1)
    expect(button).to_be_focused()  # focus stays where the person was


def test_narrow_screen(browser: Any, server: Any, photos: Photos) -> None:
    """360 px wide: one column, nothing wider than the screen, even with results shown."""
    context = browser.new_context(base_url=server.url, viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        page.set_default_timeout(SLOW)
        page.goto("/")
        tab = Tab(page)
        tab.use_key(server.key)
        expect(page.locator("#whoami")).to_contain_text("admin", timeout=SLOW)
        tab.identify(photos.stranger)
        page.get_by_role("button", name="Load audit log").click()  # long hashes
        expect(page.locator("#audit-result li.event").first).to_be_visible(timeout=SLOW)
        page.get_by_role("button", name="Load people").click()
        expect(page.locator("#people-status")).to_contain_text("enrolled", timeout=SLOW)

        assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
        controls = page.locator("main input, main button, main canvas")
        checked = 0
        for i in range(controls.count()):
            control = controls.nth(i)
            if not control.is_visible():
                continue
            box = control.bounding_box()
            assert box is not None
            assert box["x"] >= 0 and box["x"] + box["width"] <= 360, (i, box)
            checked += 1
        assert checked >= 15
        expect(page.get_by_role("textbox", name="API key")).to_be_visible()
        for label in ("Photo", "Candidates per face"):
            expect(page.get_by_label(label, exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="Identify")).to_be_visible()
    finally:
        context.close()


def test_api_docs_render_offline(browser: Any, server: Any) -> None:
    """/docs draws the API from bundled Swagger UI files: no request leaves the server."""
    page = browser.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server.url) else outside.append(r.url))
    try:
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=SLOW)
        assert "facewise" in page.inner_text(".swagger-ui .info .title")
        assert page.locator(".opblock-summary-path", has_text="/v1/identify").count() >= 1
        assert outside == []
    finally:
        page.close()


def test_analyse_says_gender_uncertain_for_a_baby(tab: Tab, server: Any) -> None:
    """A UTKFace baby (dev half B): the service abstains (gender null) and the page says so."""
    from testdata import dataset, read_csv

    folder = dataset("age_gender/utkface_subset")
    rows = sorted(read_csv(folder / "manifest.csv"), key=lambda r: r["path"])
    baby = next(r for r in rows if int(r["sha256"][0], 16) % 2 == 1 and float(r["age"]) <= 1)
    page = tab.page
    tab.use_key(server.key)
    form = page.locator("#analyze-form")
    form.get_by_label("Photo").set_input_files(str(folder / baby["path"]))
    form.get_by_role("button", name="Analyse").click()
    expect(page.locator("#analyze-status")).to_contain_text("1 face(s) found", timeout=SLOW)
    result = page.locator("#analyze-result")
    expect(result).to_contain_text("uncertain (estimated age")
    expect(result).to_contain_text("Expression")
