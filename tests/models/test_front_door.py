"""The front door: plain functions over a default engine, on real photos; value types that
compare safely; one default analysis everywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import facewise
from facewise.engine import DEFAULT_ANALYSIS

pytestmark = [pytest.mark.models, pytest.mark.data]


def test_verify_embed_similarity(face_photo: Path, same_person: Path, other_person: Path) -> None:
    same = facewise.verify(face_photo, same_person)
    assert same.verified and same.score >= same.threshold
    assert same.fmr is not None and same.fmr < 1e-3
    assert not facewise.verify(face_photo, other_person).verified
    [a] = facewise.embed(face_photo)
    [b] = facewise.embed(str(same_person), largest=True)
    assert a.embedding is not None and b.embedding is not None
    assert a.embedding.vector.shape == (128,)
    assert facewise.similarity(a.embedding, b.embedding) == pytest.approx(same.score, abs=1e-6)
    assert facewise.api.default_engine() is facewise.api.default_engine()


def test_detect_analyze_and_the_lazy_gallery(face_photo: Path, tmp_path: Path) -> None:
    [det] = facewise.detect(face_photo.read_bytes())
    assert det.landmarks is not None and det.landmarks.shape == (5, 2)
    [face] = facewise.analyze(face_photo)
    assert set(DEFAULT_ANALYSIS) <= set(face.attributes) | {"pose"}
    assert "mesh" not in face.attributes  # on request only
    with facewise.Gallery(tmp_path / "home") as gallery:
        assert gallery.people() == []


def test_value_types_compare_without_raising(face_photo: Path) -> None:
    [a] = facewise.embed(face_photo)
    [b] = facewise.embed(face_photo)
    assert a == a and a != b  # identity, never "truth value of an array is ambiguous"
    assert a.detection != b.detection and a.embedding != b.embedding
    assert np.array_equal(a.embedding.vector, b.embedding.vector)  # type: ignore[union-attr]
    assert a.bbox == b.bbox  # plain numbers still compare by value


def test_represent_is_a_deprecated_alias(face_photo: Path) -> None:
    engine = facewise.api.default_engine()
    with pytest.deprecated_call():
        [face] = engine.represent(face_photo)
    assert np.array_equal(face.embedding.vector, engine.embed(face_photo)[0].embedding.vector)  # type: ignore[union-attr]


def test_cli_and_rest_analyze_the_same_by_default() -> None:
    import inspect

    from facewise.cli.images import analyze as cli_analyze
    from facewise.server.routes.images import DEFAULT_WHAT

    what = next(p for p in cli_analyze.params if p.name == "what")
    assert what.default == DEFAULT_WHAT == ",".join(DEFAULT_ANALYSIS)
    engine_default = inspect.signature(facewise.Engine.analyze).parameters["what"].default
    assert tuple(engine_default) == DEFAULT_ANALYSIS
