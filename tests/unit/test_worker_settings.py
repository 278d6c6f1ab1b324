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


def test_an_earlier_jobs_engine_is_not_used_for_other_settings() -> None:
    """A job run in this process (workers=1) left its engine behind, and workers forked later
    inherited it whatever their settings (the LFW accuracy tests got another test's engine)."""
    from facewise import testing
    from facewise.gallery import batch

    fake = testing.fake_engine()
    seen = list(batch.map_files(lambda s, p: batch.worker_engine(s), fake, ["a", "b"]))
    assert seen == [fake, fake], "a job in this process uses the caller's engine"
    wanted = worker_settings(Engine(Settings(), embedder="facenet"))
    built = batch.worker_engine(wanted)
    assert built is not fake and built.settings.embedder == "facenet"
    assert batch.worker_engine(wanted) is built, "built once per settings"
