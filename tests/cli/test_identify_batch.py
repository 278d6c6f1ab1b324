"""`facewise identify IMAGE... FOLDER...`: one JSON line per image, per-input errors that do not
stop the run, the same answers on a worker pool, and decisions that say what a score means."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from facewise.cli.main import main
from facewise.errors import FacewiseError
from testdata import read_csv

pytestmark = [pytest.mark.models, pytest.mark.data]

DECISION_KEYS = {
    "person",
    "accepted",
    "score",
    "threshold",
    "fpir",
    "fpir_at_score",
    "fmr",
    "gallery_size",
}


def run(home: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(main, list(args), env={"FACEWISE_HOME": str(home)})
    return result.exit_code, [json.loads(x) for x in result.stdout.splitlines() if x.strip()]


@pytest.fixture(scope="module")
def home(lfw: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[Path]]]:
    """A gallery of three LFW people (2 photos each), and their photos."""
    by: dict[str, list[Path]] = {}
    for row in read_csv(lfw / "manifest.csv"):
        by.setdefault(row["identity"], []).append(lfw / row["path"])
    people = {p: sorted(by[p])[:4] for p in ("Colin_Powell", "Tony_Blair", "Hugo_Chavez")}
    home = tmp_path_factory.mktemp("identify") / "home"
    for name, imgs in people.items():
        code, _ = run(
            home, "enroll", "--person", name, *map(str, imgs[:2]), "--consent", "test", "--json"
        )
        assert code == 0
    return home, people


def test_many_images_and_folders_in_one_run(
    home: tuple[Path, dict[str, list[Path]]], tmp_path: Path, face_photo: Path, no_face_photo: Path
) -> None:
    gallery, people = home
    folder = tmp_path / "probes"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(people["Tony_Blair"][2], folder / "b_blair.jpg")
    shutil.copy(people["Hugo_Chavez"][3], folder / "sub" / "chavez.jpg")
    shutil.copy(face_photo, folder / "a_stranger.jpg")
    (folder / "notes.txt").write_text("not an image")  # not an image suffix: not searched
    (folder / ".hidden.jpg").write_bytes(b"\xff\xd8 truncated")  # hidden: left out
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    powell = str(people["Colin_Powell"][3])
    args = [
        "identify",
        powell,
        str(corrupt),
        str(folder),
        str(no_face_photo),
        str(tmp_path / "missing.jpg"),
        "--json",
        "--top",
        "2",
    ]
    code, lines = run(gallery, *args)
    paths = [line["path"] for line in lines]
    assert paths == [
        powell,
        str(corrupt),
        str(folder / "a_stranger.jpg"),
        str(folder / "b_blair.jpg"),
        str(folder / "sub" / "chavez.jpg"),
        str(no_face_photo),
        str(tmp_path / "missing.jpg"),
    ]
    by_path = dict(zip(paths, lines, strict=True))
    assert "error" in by_path[str(corrupt)] and "error" in by_path[str(tmp_path / "missing.jpg")]
    assert by_path[str(no_face_photo)]["faces"] == []
    for path, who in (
        (powell, "Colin_Powell"),
        (str(folder / "b_blair.jpg"), "Tony_Blair"),
        (str(folder / "sub" / "chavez.jpg"), "Hugo_Chavez"),
    ):
        [face] = by_path[path]["faces"]
        d = face["decision"]
        assert set(d) == DECISION_KEYS and d["person"] == who and d["accepted"]
        assert d["gallery_size"] == 3 and d["fpir"] == 0.01
        assert d["fmr"] <= d["fpir_at_score"] <= 0.01 and d["score"] >= d["threshold"]
        assert len(face["candidates"]) == 2
    [stranger] = by_path[str(folder / "a_stranger.jpg")]["faces"]
    assert stranger["decision"]["person"] is None and not stranger["decision"]["accepted"]
    assert stranger["decision"]["fpir_at_score"] > 0.01
    # the exit code is the first failing input's (the corrupt file), after every input ran
    codes = {cls.code: cls.exit_code for cls in _subclasses(FacewiseError)}
    assert code == codes[by_path[str(corrupt)]["error"]["code"]] != 0

    # the same answers from two worker processes
    code2, lines2 = run(gallery, *args, "--workers", "2")
    assert code2 == code and lines2 == lines

    # the audit log has one event per searched image, with its hash and never its path
    code, [log] = run(gallery, "audit", "--json")
    searches = [e for e in log["events"] if e["action"] == "identify"]
    assert len(searches) == 2 * 5  # two runs x the five images that could be read
    assert all(e["details"]["image"].startswith("sha256:") for e in searches)
    assert str(tmp_path) not in json.dumps(log)


def test_human_output_reads_the_score(home: tuple[Path, dict[str, list[Path]]]) -> None:
    gallery, people = home
    result = CliRunner().invoke(
        main, ["identify", str(people["Tony_Blair"][3])], env={"FACEWISE_HOME": str(gallery)}
    )
    assert result.exit_code == 0, result.output
    assert "Tony_Blair" in result.output and "for 3 people" in result.output
    assert "a stranger scores this high 1 time in" in result.output


def _subclasses(cls: type[FacewiseError]) -> list[type[FacewiseError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out += _subclasses(sub)
    return out
