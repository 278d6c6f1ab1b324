from __future__ import annotations

from pathlib import Path

import pytest

from facewise.errors import ConfigError
from facewise.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in (
        "FACEWISE_HOME",
        "FACEWISE_CONFIG",
        "FACEWISE_DETECTOR",
        "FACEWISE_MAX_SIDE",
        "FACEWISE_FLIP",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FACEWISE_HOME", str(tmp_path))
    return tmp_path


def test_defaults_when_nothing_is_set(clean_env: Path) -> None:
    s = load_settings()
    assert s.detector == "auto" and s.embedder == "dlib-resnet" and s.flip is True
    assert s.home == clean_env


def test_precedence_file_then_env_then_arguments(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / "config.toml").write_text('detector = "mtcnn"\nmax_side = 1000\nflip = true\n')
    s = load_settings()
    assert (s.detector, s.max_side, s.flip) == ("mtcnn", 1000, True)
    monkeypatch.setenv("FACEWISE_MAX_SIDE", "800")
    monkeypatch.setenv("FACEWISE_FLIP", "no")
    s = load_settings()
    assert (s.detector, s.max_side, s.flip) == ("mtcnn", 800, False)
    s = load_settings(max_side=640, detector=None)
    assert (s.detector, s.max_side) == ("mtcnn", 640)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("nonsense = 1\n", "unknown setting"),
        ("max_side = 'big'\n", "max_side"),
        ("max_side = -5\n", "positive"),
        ("this is not toml", "config file"),
        ("flip = 'maybe'\n", "flip"),
    ],
)
def test_bad_config_file_is_a_clear_error(clean_env: Path, content: str, message: str) -> None:
    (clean_env / "config.toml").write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_unknown_explicit_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(colour="blue")


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().max_side = 5  # type: ignore[misc]
