"""The lab's typed results on synthetic data (no model, no dataset): the verification maths runs
with matplotlib unimportable and loads no report code; ``to_dict`` is the JSON the CLI prints,
and the report embeds it and draws its plots."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np


def synthetic() -> tuple[Any, Any]:
    """40 pairs over 4 folds of 2-photo people in an 8-d space (genuine pairs close, impostor
    pairs random), one photo without a face: (PairSet, Embedded)."""
    from facewise.evaluate.cache import Embedded, Pipeline
    from facewise.evaluate.datasets import PairSet
    from facewise.types import EmbeddingSpace

    rng = np.random.default_rng(7)
    people = 20
    centres = rng.normal(size=(people, 8))
    vectors = np.repeat(centres, 2, axis=0) + 0.35 * rng.normal(size=(2 * people, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    paths = [f"p{i:02d}/{j}.jpg" for i in range(people) for j in (0, 1)]
    reasons = [""] * len(paths)
    vectors[5] = np.nan  # p02/1.jpg: no face
    reasons[5] = "no face found"
    a, b, same, folds = [], [], [], []
    for i in range(people):
        fold = i % 4 + 1
        a.append(paths[2 * i])
        b.append(paths[2 * i + 1])
        same.append(True)
        a.append(paths[2 * i])
        b.append(paths[2 * ((i + 1) % people)])
        same.append(False)
        folds += [fold, fold]
    pairs = PairSet(
        Path("/synthetic"), a, b, np.array(same), np.array(folds, dtype=np.int64), "synthetic"
    )
    space = EmbeddingSpace("fake", "0" * 64, 8, "cosine", "none")
    embedded = Embedded(
        Pipeline("fake-detector", "fake", False),
        space,
        paths,
        vectors.astype(np.float32),
        np.full((len(paths), 4), np.nan, dtype=np.float32),
        reasons,
        index={p: i for i, p in enumerate(paths)},
    )
    return pairs, embedded


BLOCKED = """
import importlib.abc, sys

class NoMatplotlib(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, NoMatplotlib())
"""


def test_the_protocols_run_without_matplotlib() -> None:
    code = (
        BLOCKED
        + "import json\nimport numpy as np\nfrom pathlib import Path\nfrom typing import Any\n"
        + textwrap.dedent(inspect.getsource(synthetic))
        + textwrap.dedent(
            """
            import facewise.evaluate as ev
            from facewise.evaluate import budget, compare, fairness, identify, robustness, verify
            from facewise.evaluate.verify import verify_embedded

            assert not [m for m in sys.modules if m.startswith("facewise.evaluate.reports")]
            pairs, embedded = synthetic()
            result = verify_embedded(pairs, embedded, reps=20)
            d = json.loads(json.dumps(result.to_dict()))
            assert d["kind"] == "verify" and d["pairs"] == 40 and d["failed_pairs"] == 1
            assert d["failed_genuine_pairs"] == 1 and d["failures"][0]["reason"] == "no face found"
            assert 0.5 < d["accuracy"] <= 1 and "accuracy_ci95" in d and "scores" not in d
            assert "matplotlib" not in sys.modules
            assert not [m for m in sys.modules if m.startswith("facewise.evaluate.reports")]
            from facewise.extras import MissingExtra
            try:
                result.report()
            except MissingExtra as exc:  # named, with the extra that brings it
                assert "matplotlib" in str(exc) and "facewise[eval]" in str(exc), str(exc)
            else:
                raise AssertionError("the report drew its plots without matplotlib")
            print("ok")
            """
        )
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "ok"


def test_to_dict_is_the_json_in_order_and_optional_fields_drop_out(tmp_path: Path) -> None:
    from facewise.evaluate.verify import SCORING_RULE, verify_embedded

    pairs, embedded = synthetic()
    plain = verify_embedded(pairs, embedded, reps=0)
    d = plain.to_dict()
    assert list(d)[:4] == ["kind", "dataset", "pipeline", "pairs"]
    assert list(d)[-2:] == ["scoring", "embedding"] and d["scoring"] == SCORING_RULE
    assert not {"accuracy_ci95", "bootstrap", "scores_file", "scores", "labels"} & set(d)
    assert plain.data == d and plain.accuracy == d["accuracy"]
    assert np.array_equal(plain.labels, pairs.same) and len(plain.scores) == len(pairs)
    assert json.loads(plain.write_json(tmp_path / "r.json").read_text()) == d

    full = verify_embedded(pairs, embedded, reps=20, scores_path=tmp_path / "s.csv")
    d = full.to_dict()
    assert list(d)[-1] == "scores_file" and d["scores_file"] == str(tmp_path / "s.csv")
    assert {"accuracy_ci95", "auc_ci95", "eer_ci95", "tar_at_far_ci95", "bootstrap"} <= set(d)
    assert "scores" not in d and json.loads(json.dumps(d)) == d


def test_the_report_embeds_the_json_and_the_summary_names_the_pipeline(tmp_path: Path) -> None:
    from facewise.evaluate.reports import summary
    from facewise.evaluate.verify import verify_embedded

    pairs, embedded = synthetic()
    result = verify_embedded(pairs, embedded, reps=10)
    html = result.write_report(tmp_path / "r.html").read_text()
    found = re.search(r'id="facewise-result">(.*?)</script>', html, re.S)
    assert found and json.loads(found.group(1).replace("<\\/", "</")) == result.to_dict()
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3
    lines = summary(result)
    assert lines[0] == "fake / fake-detector / no flip: 40 pairs, folds [1, 2, 3, 4]"
    assert lines[-1] == "failed pairs 1 (1 images without a face)"
