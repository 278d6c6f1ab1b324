"""The "Video" view, end to end: headless Chromium drives GET / of a real ``facewise serve``
(conftest.py). Colin Powell is enrolled through the API (three LFW photos); a 2 s synthetic clip
(facewise.video.synthetic) shows him (a fourth photo, not enrolled) and a stranger: the timeline
names him and shows the stranger as unknown, in the bars and in the table. Then a photo is blurred
by keyboard only and the blurred picture loads; nothing is wider than 360 px."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image as PILImage

from browser_pages import CHROMIUM, CHROMIUM_ARGS, Seen, watched_page
from facewise.detectors.yunet import YunetDetector
from facewise.video import synthetic as sy

pytestmark = [pytest.mark.models, pytest.mark.data]

SLOW = 60_000  # ms: a clip analysed on a busy 2-core machine
PERSON = "Colin_Powell"
STRANGER = "Aaron_Sorkin"

_SHOTS = os.environ.get("FACEWISE_SCREENSHOTS")
SCREENSHOTS = Path(_SHOTS) if _SHOTS else None
"""Where to save screenshots of the view for a person to look at (unset: none are taken)."""


def expect(actual: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(actual)


def photo(lfw: Path, name: str, k: int) -> Path:
    path = lfw / "images" / name / f"{name}_{k:04d}.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def clip(lfw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    detector = YunetDetector()
    actors = []
    for name, k, x, v in ((PERSON, 6, 170.0, 1.0), (STRANGER, 1, 470.0, -1.0)):
        still = np.asarray(PILImage.open(photo(lfw, name, k)).convert("RGB"))
        face = max(detector.detect(still), key=lambda d: d.bbox.area).bbox
        actors.append(sy.Actor(name, still, face, start=(x, 180.0), velocity=(v, 0.0), scale=0.8))
    frames = sy.render(actors, 50).frames
    return sy.write(frames, tmp_path_factory.mktemp("clip") / "two-people.mp4")


@pytest.fixture(scope="module")
def enrolled(server: Any, lfw: Path) -> str:
    files = [
        ("images", (f"{k}.jpg", photo(lfw, PERSON, k).read_bytes(), "image/jpeg"))
        for k in (1, 2, 3)
    ]
    response = httpx.post(
        f"{server.url}/v1/people",
        headers={"Authorization": f"Bearer {server.key}"},
        data={"name": PERSON, "consent": "test: public figure"},
        files=files,
        timeout=120,
    )
    assert response.status_code in (200, 201), response.text
    return PERSON


@pytest.fixture
def seen(browser: Any, server: Any) -> Iterator[Seen]:
    with watched_page(browser, server.url, timeout_ms=SLOW) as out:
        yield out


def test_video_timeline_and_blurred_photo(
    seen: Seen, server: Any, enrolled: str, clip: Path, lfw: Path
) -> None:
    page = seen.page
    page.get_by_role("textbox", name="API key").fill(server.key)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#whoami")).to_contain_text("admin", timeout=SLOW)

    section = page.locator("#video-section")
    section.get_by_label("Video clip").set_input_files(str(clip))
    section.get_by_role("button", name="Analyse clip").click()
    status = page.locator("#video-status")
    expect(status).to_contain_text("face track", timeout=SLOW)
    expect(status).to_contain_text(enrolled)
    rows = section.locator("li.timeline-row")
    known = rows.filter(has_text=enrolled)
    unknown = rows.filter(has_text="unknown")
    expect(known.first.locator(".timeline-bar.known")).to_be_visible()
    expect(unknown.first.locator(".timeline-bar.unknown")).to_be_visible()
    # Powell is there from the start to the end: his bar spans (almost) the whole lane
    lane = known.first.locator(".timeline-lane").bounding_box()
    bar = known.first.locator(".timeline-bar").first.bounding_box()
    assert lane is not None and bar is not None
    assert bar["width"] >= 0.8 * lane["width"] and bar["x"] - lane["x"] <= 0.1 * lane["width"]
    table = section.get_by_role("table", name="Segments: who appears when")
    expect(table.locator("tbody tr").filter(has_text=enrolled).first).to_be_visible()
    expect(table.locator("tbody tr").filter(has_text="unknown").first).to_be_visible()
    assert set(page.locator("#video-result td:first-child").all_text_contents()) <= {
        enrolled,
        "unknown",
    }

    # blur a photo, keyboard only from the file field: Tab to the method, choose, Tab, Enter
    section.get_by_label("Photo to blur", exact=True).set_input_files(str(photo(lfw, STRANGER, 2)))
    page.locator("#blur-method").focus()
    page.keyboard.press("ArrowDown")  # "Blur"
    page.keyboard.press("Tab")
    expect(section.get_by_role("button", name="Blur faces")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#blur-status")).to_contain_text("1 face covered", timeout=SLOW)
    image = page.locator("#blur-result img.blurred")
    page.wait_for_function(
        "() => { const i = document.querySelector('#blur-result img.blurred');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert image.evaluate("i => i.src").startswith("blob:")
    link = section.get_by_role("link", name="Download the blurred photo (.png)")
    assert link.get_attribute("download") == f"{STRANGER}_0002-blurred.png"

    if SCREENSHOTS:
        for width in (1280, 360):
            page.set_viewport_size({"width": width, "height": 900})
            section.screenshot(path=str(SCREENSHOTS / f"video-{width}.png"))

    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    for control in section.locator("input, button, select, img, table, .timeline-lane").all():
        if control.is_visible():
            box = control.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, box


# --- the liveness check with the camera: Chromium's fake camera plays a file of real frames ---

NUAA_LIVE = "0015"


def _y4m(frames: list[Path], out: Path, repeat: int = 1) -> Path:
    """A raw YUV4MPEG2 file of ``frames`` (640 x 480, 10 fps), each shown ``repeat`` times:
    what Chromium's --use-file-for-fake-video-capture plays as the camera, in a loop."""
    import cv2

    with out.open("wb") as fh:
        fh.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for path in frames:
            read = cv2.imread(str(path))
            assert read is not None, path
            bgr = cv2.resize(read, (640, 480))
            planes = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes()
            for _ in range(repeat):
                fh.write(b"FRAME\n" + planes)
    return out


def _nuaa_live() -> list[Path]:
    import csv

    from testdata import dataset

    root = dataset("antispoof/nuaa_raw_test_subset")
    with (root / "manifest.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["subject"] == NUAA_LIVE and r["label"] == "live"]
    return [root / r["path"] for r in sorted(rows, key=lambda r: int(r["frame_no"]))]


@contextmanager
def _camera_page(browser: Any, server: Any, camera: Path) -> Iterator[Seen]:
    """A page in a Chromium of its own whose camera plays ``camera`` (permission granted)."""
    fake = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    ]
    own = browser.browser_type.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *fake]
    )
    try:
        with watched_page(own, server.url, timeout_ms=SLOW) as out:
            page = out.page
            page.get_by_role("textbox", name="API key").fill(server.key)
            page.get_by_role("button", name="Use key").click()
            expect(page.locator("#whoami")).to_contain_text("admin", timeout=SLOW)
            yield out
    finally:
        own.close()


def test_the_camera_check_fails_a_still_picture(browser: Any, server: Any, tmp_path: Path) -> None:
    still = _y4m(_nuaa_live()[:1], tmp_path / "still.y4m", repeat=10)
    sent: list[str] = []

    def on_request(request: Any) -> None:
        if request.url.endswith("/frame"):
            sent.append(request.url)

    with _camera_page(browser, server, still) as seen:
        page = seen.page
        page.on("request", on_request)
        section = page.locator("#challenge-section")
        section.get_by_role("button", name="Start the check").click()
        expect(page.locator("#challenge-step")).to_have_text("Not passed.", timeout=SLOW)
        status = page.locator("#challenge-status")
        expect(status).to_contain_text("did not move")
        expect(status).to_contain_text("another way to confirm")
        expect(section.get_by_role("button", name="Start the check")).to_be_focused()
        expect(page.locator("#challenge-video")).to_be_hidden()
        assert len(sent) >= 5, "the server decided from the frames the page sent"


def test_the_camera_check_asks_for_the_steps_of_a_live_face(
    browser: Any, server: Any, tmp_path: Path
) -> None:
    moving = _y4m(_nuaa_live()[:30], tmp_path / "live.y4m")
    with _camera_page(browser, server, moving) as seen:
        page = seen.page
        section = page.locator("#challenge-section")
        section.get_by_role("button", name="Start the check").click()
        step = page.locator("#challenge-step")
        expect(step).to_contain_text("Step 1 of 2:", timeout=SLOW)
        expect(page.locator("#challenge-status")).to_contain_text("Check started")
        expect(page.locator("#challenge-video")).to_be_visible()
        page.wait_for_timeout(2500)  # ten frames or so of a real face: not frozen
        expect(step).not_to_have_text("Not passed.")
        if SCREENSHOTS:
            section.screenshot(path=str(SCREENSHOTS / "challenge-1280.png"))
        section.get_by_role("button", name="Stop").click()
        expect(page.locator("#challenge-status")).to_have_text("Check stopped.")
        expect(page.locator("#challenge-video")).to_be_hidden()


def test_without_a_camera_the_check_says_what_else_to_do(seen: Seen, server: Any) -> None:
    page = seen.page
    page.get_by_role("textbox", name="API key").fill(server.key)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#whoami")).to_contain_text("admin", timeout=SLOW)
    page.locator("#challenge-section").get_by_role("button", name="Start the check").click()
    status = page.locator("#challenge-status")
    expect(status).to_contain_text("camera could not be used", timeout=SLOW)
    expect(status).to_contain_text("another way to confirm you are present")
