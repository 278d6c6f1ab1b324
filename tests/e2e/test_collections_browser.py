"""The "People in this collection" view, end to end: headless Chromium drives GET / of a real
``facewise serve`` (conftest.py) with ten real LFW photos: three of Colin Powell, three of Tony
Blair and four people seen once. Upload, groups with their thumbnails, naming (by mouse and by
keyboard only), a hostile name shown as text, taking a face out and putting it back, merging, the
yes/no queue (skip, yes by keyboard, no), a reload, 360 px."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_pages import Seen, watched_page

pytestmark = [pytest.mark.models, pytest.mark.data]

SLOW = 30_000  # ms: an API call on a busy 2-core machine
HOSTILE = "<img src=x onerror=alert(1)>"
TWICE = ("Colin_Powell", "Tony_Blair")
ONCE = ("Hugo_Chavez", "Laura_Bush", "Jacques_Chirac", "Aaron_Patterson")

_SHOTS = os.environ.get("FACEWISE_SCREENSHOTS")
SCREENSHOTS = Path(_SHOTS) if _SHOTS else None
"""Where to save screenshots of the view for a person to look at (unset: none are taken)."""


def expect(actual: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(actual)


@pytest.fixture(scope="module")
def album(lfw: Path) -> list[Path]:
    photos = []
    for person, count in [*((p, 3) for p in TWICE), *((p, 1) for p in ONCE)]:
        found = sorted((lfw / "images" / person).glob("*.jpg"))[:count]
        if len(found) < count:
            pytest.skip(f"LFW has fewer than {count} photos of {person}")
        photos.extend(found)
    return photos


@pytest.fixture
def seen(browser: Any, server: Any) -> Iterator[Seen]:
    with watched_page(browser, server.url, timeout_ms=SLOW) as out:
        yield out


def cluster_of(page: Any, photo: str) -> Any:
    """The group (list item) that shows a face of ``photo``."""
    return page.locator("ol.clusters > li").filter(has=page.locator(".face-source", has_text=photo))


def thumbnails_loaded(page: Any) -> None:
    page.wait_for_function(
        """() => {
            const images = Array.from(document.querySelectorAll('#collection-result img'));
            return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0);
        }""",
        timeout=SLOW,
    )


def _call(server: Any, method: str, path: str, body: Any = None) -> Any:
    """The API of the server the page talks to, with the same key."""
    import json
    import urllib.request

    request = urllib.request.Request(
        server.url.rstrip("/") + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _faces_of(summary: Any, person: str) -> set[int]:
    return {
        f["face"]
        for c in summary["clusters"]
        for f in c["faces"]
        if Path(f["path"]).name.startswith(person + "_")
    }


def focused(page: Any) -> str:
    return str(page.evaluate("() => document.activeElement.id"))


def test_people_in_a_collection(seen: Seen, server: Any, album: list[Path]) -> None:
    page = seen.page
    page.get_by_role("textbox", name="API key").fill(server.key)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#whoami")).to_contain_text("admin", timeout=SLOW)

    status = page.locator("#collection-status")
    section = page.locator("#collection-section")
    section.get_by_label("Collection name").fill("album")
    section.get_by_role("button", name="Open collection").click()
    expect(status).to_contain_text("No collection album yet")
    section.get_by_label("Photos to add (several allowed)").set_input_files([str(p) for p in album])
    section.get_by_role("button", name="Add photos").click()
    expect(status).to_contain_text("Added 10 photos", timeout=SLOW)

    groups = page.locator("ol.clusters > li")
    assert groups.count() >= 2
    powell, blair = (
        cluster_of(page, "Colin_Powell_0001.jpg"),
        cluster_of(page, "Tony_Blair_0001.jpg"),
    )
    expect(powell).to_have_count(1)
    expect(blair).to_have_count(1)
    expect(powell.locator(".face-source", has_text="Colin_Powell")).to_have_count(3)
    expect(blair.locator(".face-source", has_text="Tony_Blair")).to_have_count(3)
    apart = page.locator("ul.apart > li")
    for person in ONCE:
        expect(apart.filter(has_text=person)).to_have_count(1)
    thumbnails_loaded(page)
    cover = powell.locator("img.cover")
    expect(cover).to_have_attribute("alt", re.compile(r"^Cover face of Unnamed person \d+$"))

    # keyboard only: from the upload button, Tab to Powell's name field, type, Enter
    name_field = powell.locator("input[type=text]")
    field_id = name_field.get_attribute("id")
    page.locator("#collection-upload-form button[type=submit]").focus()
    for _ in range(60):
        page.keyboard.press("Tab")
        if focused(page) == field_id:
            break
    assert focused(page) == field_id
    page.keyboard.type("Colin Powell")
    page.keyboard.press("Tab")
    save = powell.get_by_role("button", name="Save name")
    expect(save).to_be_focused()
    outline = save.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline == "solid", "no visible focus on the button"
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Colin Powell", timeout=SLOW)
    powell = cluster_of(page, "Colin_Powell_0001.jpg")
    expect(powell.locator("h3")).to_have_text("Colin Powell")
    expect(powell.locator("h3")).to_be_focused()  # focus is not lost in the new list
    page.keyboard.press("Tab")  # the merge checkbox, toggled with Space
    expect(powell.locator("input.merge-pick")).to_be_focused()
    page.keyboard.press("Space")
    expect(powell.locator("input.merge-pick")).to_be_checked()
    page.keyboard.press("Space")

    # a hostile name is text: no element made from it, no script run
    blair.locator("input[type=text]").fill(HOSTILE)
    blair.get_by_role("button", name="Save name").click()
    blair = cluster_of(page, "Tony_Blair_0001.jpg")
    expect(blair.locator("h3")).to_have_text(HOSTILE, timeout=SLOW)
    assert page.evaluate("() => document.querySelectorAll('[onerror]').length") == 0
    assert page.locator("img[src='x']").count() == 0

    # take a face out of Blair's group: it is listed apart; then merge two groups
    before, apart_before = blair.locator("li.face-tile").count(), apart.count()
    wrong = blair.locator("li.face-tile", has_text="Tony_Blair_0001.jpg")
    wrong.get_by_role("button", name="Not this person").click()
    expect(status).to_contain_text("Took face", timeout=SLOW)
    blair = cluster_of(page, "Tony_Blair_0002.jpg")
    expect(blair.locator("li.face-tile")).to_have_count(before - 1)
    expect(apart).to_have_count(apart_before + 1)
    taken_out = apart.filter(has_text="Tony_Blair_0001.jpg")
    expect(taken_out).to_have_count(1)
    # ... and put it back: a choice of group, then Move
    taken_out.get_by_label("Put in group").select_option(label=HOSTILE)
    taken_out.get_by_role("button", name="Move").click()
    expect(status).to_contain_text(f"into {HOSTILE}", timeout=SLOW)
    expect(cluster_of(page, "Tony_Blair_0001.jpg").locator("li.face-tile")).to_have_count(before)
    expect(apart).to_have_count(apart_before)
    blair = cluster_of(page, "Tony_Blair_0001.jpg")
    thumbnails_loaded(page)
    # merge: exactly two groups; two people with different names are refused, nothing changes
    merge = page.get_by_role("button", name="Merge the two selected")
    powell = cluster_of(page, "Colin_Powell_0001.jpg")
    powell.locator("input.merge-pick").check()
    merge.click()
    expect(page.locator("#error-text")).to_contain_text("Select exactly two groups")
    blair.locator("input.merge-pick").check()
    merge.click()
    expect(page.locator("#error-text")).to_contain_text("rename one first", timeout=SLOW)
    expect(page.locator("#error-text")).to_contain_text("HTTP 409")
    expect(groups.filter(has_text="Colin Powell")).to_have_count(1)
    expect(groups.filter(has_text=HOSTILE)).to_have_count(1)
    page.get_by_role("button", name="Dismiss").click()
    if groups.count() >= 3:  # a third group (someone in a background): merged into Powell's
        other = groups.filter(has_not_text="Colin Powell").filter(has_not_text=HOSTILE).first
        for box in page.locator("input.merge-pick:checked").all():
            box.uncheck()
        other.locator("input.merge-pick").check()
        cluster_of(page, "Colin_Powell_0001.jpg").locator("input.merge-pick").check()
        merge.click()
        expect(status).to_contain_text("Merged", timeout=SLOW)

    # the yes/no queue: two of Powell's faces split off (over the API) come back as the first
    # question; Skip, then Yes by keyboard merges them back; split again, No keeps them apart
    def split_powell() -> None:
        shown = _call(server, "GET", "/v1/collections/album")
        named = next(c for c in shown["clusters"] if c["name"] == "Colin Powell")
        part = [f["face"] for f in named["faces"] if "Colin_Powell_0001" not in f["path"]]
        part = [f for f in part if f in _faces_of(shown, "Colin_Powell")][:2]
        assert len(part) == 2, named
        _call(
            server, "POST", f"/v1/collections/album/clusters/{named['id']}/split", {"faces": part}
        )
        section.get_by_role("button", name="Open collection").click()
        expect(status).to_contain_text("Showing collection album", timeout=SLOW)

    question = page.locator("#question-text")
    split_powell()
    expect(question).to_contain_text("Are these 2 faces Colin Powell?", timeout=SLOW)
    expect(page.locator("#collection-questions img.cover")).to_have_count(2)
    if SCREENSHOTS:
        for width in (1280, 360):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('#collection-questions img'))"
                ".every((i) => i.complete && i.naturalWidth > 0)",
                timeout=SLOW,
            )
            page.locator("#collection-questions").screenshot(
                path=str(SCREENSHOTS / f"collection-question-{width}.png")
            )
        page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Skip this question").click()
    expect(page.locator("#collection-questions")).not_to_contain_text("these 2 faces")
    section.get_by_role("button", name="Open collection").click()
    expect(question).to_contain_text("Are these 2 faces Colin Powell?", timeout=SLOW)
    page.locator("#question-skip").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(page.locator("#question-yes")).to_be_focused()
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Yes: these 2 faces are Colin Powell now.", timeout=SLOW)
    powell = cluster_of(page, "Colin_Powell_0001.jpg")
    expect(powell.locator(".face-source", has_text="Colin_Powell")).to_have_count(3)
    split_powell()
    expect(question).to_contain_text("Are these 2 faces Colin Powell?", timeout=SLOW)
    no = page.locator("#question-no")
    expect(no).to_have_accessible_name("No — not Colin Powell")
    expect(page.locator("#question-yes")).to_have_accessible_name(
        "Yes — these 2 faces are Colin Powell"
    )
    no.click()
    expect(status).to_contain_text("No: these 2 faces will not be put", timeout=SLOW)
    expect(page.locator("#collection-questions")).not_to_contain_text("these 2 faces")
    expect(cluster_of(page, "Colin_Powell_0002.jpg").locator("h3")).not_to_have_text("Colin Powell")

    if SCREENSHOTS:
        for width in (1280, 360):
            page.set_viewport_size({"width": width, "height": 900})
            thumbnails_loaded(page)
            section.screenshot(path=str(SCREENSHOTS / f"collection-{width}.png"))

    # 360 px: nothing wider than the screen
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    for control in section.locator("input, button, img").all():
        if control.is_visible():
            box = control.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, box

    # a reload shows the collection again, with its names from the server
    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    expect(cluster_of(page, "Colin_Powell_0001.jpg").locator("h3")).to_have_text(
        "Colin Powell", timeout=SLOW
    )
    expect(cluster_of(page, "Tony_Blair_0002.jpg").locator("h3")).to_have_text(HOSTILE)
    thumbnails_loaded(page)
    assert page.evaluate("() => document.querySelectorAll('[onerror]').length") == 0
