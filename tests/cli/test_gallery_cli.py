"""Gallery commands through the CLI, with the JSON shapes outside checks rely on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from facewise.cli.main import main
from testdata import read_csv

pytestmark = [pytest.mark.models, pytest.mark.data]


def run(home: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(main, list(args), env={"FACEWISE_HOME": str(home)})
    return result.exit_code, [json.loads(x) for x in result.stdout.splitlines() if x.strip()]


@pytest.fixture(scope="module")
def photos(lfw: Path) -> dict[str, list[str]]:
    by: dict[str, list[str]] = {}
    for row in read_csv(lfw / "manifest.csv"):
        by.setdefault(row["identity"], []).append(str(lfw / row["path"]))
    return {p: sorted(by[p])[:4] for p in ("Colin_Powell", "Tony_Blair", "Hugo_Chavez")}


def test_enrol_identify_forget_audit(tmp_path: Path, photos, face_photo: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    for name, imgs in photos.items():
        code, [out] = run(
            home, "enroll", "--person", name, *imgs[:3], "--consent", "test", "--json"
        )
        assert code == 0 and out == {"person": name, "enrolled": 3, "skipped": []}
    code, [again] = run(home, "enroll", "--person", "Tony_Blair", photos["Tony_Blair"][0], "--json")
    assert again["enrolled"] == 0 and again["skipped"][0]["reason"] == "already enrolled"

    code, [hit] = run(home, "identify", photos["Tony_Blair"][3], "--top", "2", "--json")
    assert code == 0 and hit["path"] == photos["Tony_Blair"][3]
    [face] = hit["faces"]
    assert face["decision"]["person"] == "Tony_Blair" and face["decision"]["accepted"] is True
    assert face["decision"]["score"] >= face["decision"]["threshold"]
    assert len(face["candidates"]) == 2 and face["candidates"][0]["person"] == "Tony_Blair"
    assert len(face["bbox"]) == 4

    code, [miss] = run(home, "identify", str(face_photo), "--json")
    assert miss["faces"][0]["decision"] == {
        **miss["faces"][0]["decision"],
        "person": None,
        "accepted": False,
    }

    code, [people] = run(home, "people", "list", "--json")
    assert sorted(p["name"] for p in people["people"]) == sorted(photos)
    code, [shown] = run(home, "people", "show", "Colin_Powell", "--json")
    assert len(shown["samples"]) == 3 and shown["samples"][0]["consent"] == "test"

    code, [receipt] = run(home, "forget", "Tony_Blair", "--json")
    assert code == 0 and receipt["removed_samples"] == 3 and receipt["verified"] is True
    code, [after] = run(home, "identify", photos["Tony_Blair"][3], "--json")
    assert after["faces"][0]["decision"]["person"] != "Tony_Blair"

    code, [chain] = run(home, "audit", "--verify", "--json")
    assert code == 0 and chain["ok"] is True
    code, [log] = run(home, "audit", "--json")
    actions = [e["action"] for e in log["events"]]
    assert actions.count("enrol") == 3 and "identify" in actions and "forget" in actions
    assert "forget-receipt" in actions

    code, [stats] = run(home, "gallery", "stats", "--json")
    assert stats["people"] == 2 and stats["samples"] == 6

    code, [err] = run(home, "forget", "Nobody", "--json")
    assert code == 2 and err["error"]["code"] == "invalid_input"
