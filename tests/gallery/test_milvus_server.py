"""The gallery on real faces against a real Milvus 2.3.5 standalone server (started for the session
by tests/milvus_server.py): enrol, identify open-set, forget verifiably, with the server doing the
1:N search and the templates; no call reads every vector of the gallery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from facewise import Engine
from facewise.gallery import Gallery
from milvus_server import milvus_server  # noqa: F401  (the session's server, a fixture)
from testdata import read_csv

pytestmark = [pytest.mark.models, pytest.mark.data]


@pytest.fixture(scope="module")
def people(lfw: Path) -> dict[str, list[Path]]:
    """LFW people with at least 4 photos, 6 of them, photos sorted."""
    by: dict[str, list[Path]] = {}
    for row in read_csv(lfw / "manifest.csv"):
        by.setdefault(row["identity"], []).append(lfw / row["path"])
    many = sorted((p for p, imgs in by.items() if len(imgs) >= 4), key=lambda p: -len(by[p]))
    return {p: sorted(by[p]) for p in many[:6]}


def test_identify_on_a_milvus_server(
    milvus_server: str,  # noqa: F811  (the fixture imported above)
    people: dict[str, list[Path]],
    lfw: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("pymilvus")
    g = Gallery(f"{milvus_server}?gallery=identify_test", Engine())
    for name, photos in people.items():
        result = g.enrol(name, photos[:2], consent="research test", source="lfw")
        assert result.enrolled == 2, result.skipped

    def every_vector(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("identify read every vector of a Milvus gallery")

    with monkeypatch.context() as patch:
        patch.setattr(g.store, "vectors", every_vector)
        hits = sum(g.identify(photos[3])[0].person == name for name, photos in people.items())
        [unknown] = g.identify(lfw / "images/Aaron_Sorkin/Aaron_Sorkin_0001.jpg")
    assert hits >= 5, f"only {hits}/6 enrolled people identified"
    assert unknown.person is None and not unknown.accepted

    victim = next(iter(people))
    receipt = g.forget(victim, actor="test")
    assert receipt["removed_samples"] == 2 and receipt["verified"]
    assert "Milvus rows deleted" in receipt["erased_from"]
    assert g.identify(people[victim][3])[0].person != victim
    g.close()
