"""Reading evaluation datasets: LFW's official pairs.txt, pairs CSVs, manifests, folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from facewise.evaluate.datasets import (
    DatasetError,
    load_folder,
    load_manifest,
    load_pairs,
)

from .conftest import rows

pytestmark = [pytest.mark.data]


def _name_index(rel: str) -> tuple[str, int]:
    stem = Path(rel).stem  # Name_Surname_0003
    name, _, index = stem.rpartition("_")
    return name, int(index)


def test_official_pairs_txt_reads_as_the_csv(lfw: Path, tmp_path: Path) -> None:
    """Write folds 1-2 of pairs.csv in LFW's pairs.txt format (header "folds n", then per fold
    n matched and n mismatched lines) and read it back under the same root."""
    csv_rows = [r for r in rows(lfw / "pairs.csv") if r["fold"] in ("1", "2")]
    n = 20
    lines = [f"2\t{n}"]
    expected = []
    for fold in ("1", "2"):
        same = [r for r in csv_rows if r["fold"] == fold and r["same_identity"] == "1"][:n]
        diff = [r for r in csv_rows if r["fold"] == fold and r["same_identity"] == "0"][:n]
        for r in same:
            (name, i), (_, j) = _name_index(r["path_a"]), _name_index(r["path_b"])
            lines.append(f"{name}\t{i}\t{j}")
        for r in diff:
            (n1, i), (n2, j) = _name_index(r["path_a"]), _name_index(r["path_b"])
            lines.append(f"{n1}\t{i}\t{n2}\t{j}")
        expected += same + diff
    txt = tmp_path / "pairs.txt"
    txt.write_text("\n".join(lines) + "\n")
    got = load_pairs(txt, lfw)
    assert got.path_a == [r["path_a"] for r in expected]
    assert got.path_b == [r["path_b"] for r in expected]
    assert got.same.tolist() == [r["same_identity"] == "1" for r in expected]
    assert got.folds.tolist() == [int(r["fold"]) for r in expected]
    assert all((lfw / p).is_file() for p in got.images())


def test_pairs_csv_without_folds_is_dealt_into_ten(tmp_path: Path, lfw: Path) -> None:
    src = rows(lfw / "pairs.csv")[:40] + rows(lfw / "pairs.csv")[300:340]
    path = tmp_path / "p.csv"
    path.write_text(
        "path_a,path_b,same_identity\n"
        + "".join(
            f"{r['path_a']},{r['path_b']},{'true' if r['same_identity'] == '1' else 'false'}\n"
            for r in src
        )
    )
    got = load_pairs(path, lfw)
    assert sorted(set(got.folds.tolist())) == list(range(1, 11))
    for fold in range(1, 11):  # both classes in every fold
        assert set(got.same[got.folds == fold].tolist()) == {True, False}
    assert got.notes and "10 folds" in got.notes[0]


def test_select_keeps_folds_and_classes_even(lfw: Path) -> None:
    pairs = load_pairs(lfw / "pairs.csv")
    small = pairs.select(limit=100)
    assert len(small) == 100
    for fold in np.unique(pairs.folds):
        assert (small.same[small.folds == fold]).sum() == 10
        assert (~small.same[small.folds == fold]).sum() == 10
    two = pairs.select(folds=[1, 2])
    assert set(two.folds.tolist()) == {1, 2} and len(two) == 1200
    with pytest.raises(DatasetError, match="no fold"):
        pairs.select(folds=[11])
    with pytest.raises(DatasetError, match="at least 2 folds"):
        pairs.select(folds=[1]).check_kfold()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fold,path_a,path_b,same_identity\n1,a.jpg,b.jpg,maybe\n", "must be 1/0"),
        ("fold,path_a,path_b,same_identity\nx,a.jpg,b.jpg,1\n", "whole numbers"),
        ("path,identity\n", "lacks the column"),
    ],
)
def test_bad_rows(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        load_pairs(path)


def test_bad_pairs_txt_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("1\t1\nAaron\t1\nA\t1\tB\t2\n")
    with pytest.raises(DatasetError, match="line 2"):
        load_pairs(path)


def test_manifest_and_folder(lfw: Path, tmp_path: Path) -> None:
    manifest = load_manifest(lfw / "manifest.csv")
    assert "gender" in manifest.groups and len(manifest) == len(rows(lfw / "manifest.csv"))
    gender = manifest.group_of("gender")
    assert set(gender.values()) == {"female", "male"}  # blanks left out
    with pytest.raises(DatasetError, match="no column 'age'"):
        manifest.group_of("age")
    small = manifest.limit_people(50)
    people = sorted(set(small.identities))
    assert len(small) >= 50 and people == sorted(set(manifest.identities))[: len(people)]
    with pytest.raises(DatasetError, match="lacks the column"):
        bad = tmp_path / "m.csv"
        bad.write_text("file,person\na.jpg,A\n")
        load_manifest(bad)
    for person in people[:2]:
        for p in [p for p, who in zip(small.paths, small.identities, strict=True) if who == person]:
            (tmp_path / "faces" / person).mkdir(parents=True, exist_ok=True)
            shutil.copy(lfw / p, tmp_path / "faces" / person / Path(p).name)
    folder = load_folder(tmp_path / "faces")
    assert sorted(set(folder.identities)) == people[:2]
    assert all((tmp_path / "faces" / p).is_file() for p in folder.paths)
    with pytest.raises(DatasetError, match="no images"):
        (tmp_path / "empty").mkdir()
        load_folder(tmp_path / "empty")
