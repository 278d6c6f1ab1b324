"""One gallery location, one parser: the ``gallery`` setting (FACEWISE_GALLERY) and a home that
is always a folder. A wrong location is an error from ``load_settings`` before anything is
created; an unreachable server is a clear error with its own exit code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from facewise.errors import ConfigError, GalleryUnavailable
from facewise.location import parse_location, redact
from facewise.settings import gallery_location, load_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith("FACEWISE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.mark.parametrize(
    "bad",
    [
        "milvus:",
        "milvus:/127.0.0.1:19530",
        "milvus://",
        "milvus://127.0.0.1:99999",
        "milvus://127.0.0.1:port",
        "milvus://127.0.0.1:19530/collection",
        "milvus://127.0.0.1:19530?colour=blue",
        "milvus-lite://file.db",
        "milvus-lite:///gallery.sqlite",
        "sqlite://relative.sqlite",
        "sqlite:///",
        "http://127.0.0.1:19530",
        "s3://bucket/gallery",
    ],
)
def test_a_wrong_gallery_location_is_a_config_error(env: pytest.MonkeyPatch, bad: str) -> None:
    env.setenv("FACEWISE_GALLERY", bad)
    with pytest.raises(ConfigError):
        load_settings()
    assert list(Path.cwd().iterdir()) == []  # nothing was created on the way


def test_a_url_in_home_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("FACEWISE_HOME", "milvus://127.0.0.1:1")
    with pytest.raises(ConfigError, match="FACEWISE_GALLERY"):
        load_settings()
    assert list(Path.cwd().iterdir()) == []


def test_good_locations(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = load_settings(home=str(tmp_path / "h"))
    loc = gallery_location(home)
    assert loc.kind == "sqlite" and loc.path == tmp_path / "h" / "gallery.sqlite"
    assert loc.index_path == tmp_path / "h" / "index.bin"
    env.setenv("FACEWISE_GALLERY", "sqlite:///data/people.sqlite")
    loc = gallery_location(load_settings())
    assert loc.path == Path("data/people.sqlite")
    assert loc.index_path == Path("data/people.sqlite.index")
    assert parse_location(f"sqlite:///{tmp_path}/abs.sqlite").path == tmp_path / "abs.sqlite"
    assert parse_location("milvus://db.example:19531").url == "milvus://db.example:19531"
    assert parse_location("milvus://db.example").url == "milvus://db.example:19530"
    cred = parse_location("milvus://root:s3cret@db.example:19530?gallery=shop")
    assert cred.url == "milvus://root:s3cret@db.example:19530?gallery=shop"
    assert "s3cret" not in str(cred) and "s3cret" not in redact(cred.url)
    lite = parse_location("milvus-lite:////tmp/x/g.db")
    assert lite.kind == "milvus-lite" and lite.path == Path("/tmp/x/g.db") and not lite.local
    assert parse_location(str(tmp_path / "folder")).path == tmp_path / "folder" / "gallery.sqlite"
    assert parse_location(r"C:\galleries\one").kind == "sqlite"  # a drive letter is no scheme


def test_credentials_never_reach_an_error_message(env: pytest.MonkeyPatch) -> None:
    env.setenv("FACEWISE_GALLERY", "milvus://root:s3cret@db.example:19530/oops")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "s3cret" not in str(caught.value)


@pytest.mark.models
def test_an_unreachable_server_is_an_error_with_its_exit_code(env: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pymilvus")
    from facewise.cli.main import main

    env.setenv("FACEWISE_GALLERY", "milvus://admin:pw@127.0.0.1:1")
    result = CliRunner().invoke(main, ["gallery", "stats", "--json"])
    assert result.exit_code == GalleryUnavailable.exit_code == 10, result.output
    assert "gallery_unavailable" in result.output and "127.0.0.1:1" in result.output
    assert "pw@" not in result.output
    assert not any(p.name.startswith("milvus") for p in Path.cwd().iterdir())
    # the service does not start on it either: the same error, raised at start-up
    from facewise.gallery import Gallery

    with pytest.raises(GalleryUnavailable):
        Gallery.from_settings(load_settings())
