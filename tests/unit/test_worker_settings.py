"""Worker processes get an engine like the caller's: the choices given to ``Engine(...)`` win
over its settings (they were lost before: ``Engine(embedder="facenet")`` had dlib workers)."""

from __future__ import annotations

from facewise.engine import Engine
from facewise.gallery.batch import worker_settings
from facewise.settings import Settings


def test_an_engines_own_choices_reach_its_workers() -> None:
    engine = Engine(Settings(), embedder="facenet", detector="mtcnn", flip=False)
    settings = worker_settings(engine)
    assert (settings["embedder"], settings["detector"], settings["flip"]) == (
        "facenet",
        "mtcnn",
        False,
    )
    assert settings["threads"] == 1
    plain = worker_settings(Engine(Settings()))
    assert plain["embedder"] == Settings().embedder and plain["flip"] == Settings().flip


def test_a_backend_given_as_an_object_leaves_the_setting_alone() -> None:
    from facewise.testing import FakeDetector

    engine = Engine(Settings(detector="hog"), detector=FakeDetector())
    assert worker_settings(engine)["detector"] == "hog"
