"""Shared fixtures. Data-backed tests read ../shared/datasets (never copied into the repo) and
skip with the reason when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_pages import CHROMIUM, CHROMIUM_ARGS
from testdata import dataset


@pytest.fixture(scope="session")
def lfw() -> Path:
    return dataset("identity/lfw_gray")


@pytest.fixture(scope="session")
def voc() -> Path:
    return dataset("detection/dlib_pascal_voc_faces")


@pytest.fixture(scope="session")
def engine():  # type: ignore[no-untyped-def]
    from facewise import Engine

    return Engine()


@pytest.fixture(scope="session")
def face_photo(lfw: Path) -> Path:
    """A real photo with one clear face (LFW, 250 x 250 grayscale JPEG)."""
    return lfw / "images/Aaron_Sorkin/Aaron_Sorkin_0001.jpg"


@pytest.fixture(scope="session")
def same_person(lfw: Path) -> Path:
    return lfw / "images/Aaron_Sorkin/Aaron_Sorkin_0002.jpg"


@pytest.fixture(scope="session")
def other_person(lfw: Path) -> Path:
    return lfw / "images/Aaron_Patterson/Aaron_Patterson_0001.jpg"


@pytest.fixture(scope="session")
def group_photo(voc: Path) -> Path:
    """A real scene with 7 annotated faces (Pascal VOC, from dlib's examples)."""
    return voc / "images/2007_007763.jpg"


@pytest.fixture(scope="session")
def no_face_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real photo without a face: scikit-image's coffee cup (public domain)."""
    import skimage.data
    from PIL import Image

    path = tmp_path_factory.mktemp("photos") / "coffee.png"
    Image.fromarray(skimage.data.coffee()).save(path)
    return path


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """Headless Debian Chromium driven by Playwright; nothing is downloaded. `make test` installs
    the chromium package when it is missing. Per module: Playwright's sync API keeps an event loop
    running in this thread while it is open, which would break later tests that use asyncio."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
