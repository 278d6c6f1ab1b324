"""Session fixtures for the evaluation lab: one embedding cache shared by every test, and each
``facewise eval`` command run once on real LFW data (full pairs for verify, small subsets for
the rest), its JSON and HTML report kept for the tests that check them."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from facewise.cli.main import main

ROOT_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


@dataclass(frozen=True)
class Run:
    code: int
    data: dict[str, Any]
    report: Path
    output: str


def cli(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    """Run ``facewise eval ARGS`` in-process: (exit code, the JSON printed or None, output)."""
    result = CliRunner().invoke(main, ["eval", *args])
    text = result.stdout.strip()
    data = json.loads(text) if text.startswith("{") else None
    return result.exit_code, data, result.output


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def eval_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("eval-cache")


@pytest.fixture(scope="session")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("eval-reports")


def _run(out_dir: Path, eval_cache: Path, name: str, *args: str) -> Run:
    report = out_dir / f"{name}.html"
    code, data, output = cli(
        *args, "--json", "--quiet", "--cache", str(eval_cache), "--report", str(report)
    )
    assert code == 0 and data is not None, output
    return Run(code, data, report, output)


@pytest.fixture(scope="session")
def verify_run(lfw: Path, eval_cache: Path, out_dir: Path) -> Run:
    """The full LFW dev pairs (3,000) with the default pipeline: embeds 3,811 images once."""
    return _run(
        out_dir,
        eval_cache,
        "verify",
        "verify",
        "--pairs",
        str(lfw / "pairs.csv"),
        "--scores",
        str(out_dir / "scores.csv"),
    )


@pytest.fixture(scope="session")
def scores(verify_run: Run) -> list[dict[str, str]]:
    return rows(Path(verify_run.data["scores_file"]))


@pytest.fixture(scope="session")
def identify_run(lfw: Path, eval_cache: Path, out_dir: Path, verify_run: Run) -> Run:
    return _run(
        out_dir,
        eval_cache,
        "identify",
        "identify",
        "--manifest",
        str(lfw / "manifest.csv"),
        "--limit",
        "500",
    )


@pytest.fixture(scope="session")
def fairness_run(lfw: Path, eval_cache: Path, out_dir: Path, verify_run: Run) -> Run:
    """Official pairs by gender (every image already in the cache from the verify run)."""
    return _run(
        out_dir,
        eval_cache,
        "fairness",
        "fairness",
        "--manifest",
        str(lfw / "manifest.csv"),
        "--group",
        "gender",
        "--pairs",
        str(lfw / "pairs.csv"),
    )


@pytest.fixture(scope="session")
def robustness_run(lfw: Path, eval_cache: Path, out_dir: Path, verify_run: Run) -> Run:
    return _run(
        out_dir,
        eval_cache,
        "robustness",
        "robustness",
        "--pairs",
        str(lfw / "pairs.csv"),
        "--limit",
        "100",
        "--degradation",
        "resolution:16",
        "--degradation",
        "blur:4",
    )


@pytest.fixture(scope="session")
def budget_run(lfw: Path, eval_cache: Path, out_dir: Path) -> Run:
    return _run(
        out_dir,
        eval_cache,
        "budget",
        "budget",
        "--pairs",
        str(lfw / "pairs.csv"),
        "--limit",
        "100",
        "--detectors",
        "hog",
        "--models",
        "dlib-resnet",
        "--flips",
        "off,on",
        "--time-images",
        "4",
        "--rounds",
        "1",
    )


@pytest.fixture(scope="session")
def compare_run(lfw: Path, eval_cache: Path, out_dir: Path, verify_run: Run) -> Run:
    return _run(
        out_dir,
        eval_cache,
        "compare",
        "compare",
        "--pairs",
        str(lfw / "pairs.csv"),
        "--limit",
        "200",
        "--system",
        "default",
        "--system",
        "dlib-resnet/hog+mtcnn/noflip",
        "--fuse",
        "--bootstrap",
        "200",
    )
