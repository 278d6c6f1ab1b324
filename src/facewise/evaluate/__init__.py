"""The evaluation lab: protocols and metrics, with JSON figures and self-contained HTML reports.

    from facewise.evaluate import load_pairs, resolve_pipeline, run_verify

    result = run_verify(load_pairs("lfw/pairs.csv"), resolve_pipeline())
    result.accuracy, result.to_dict(), result.write_report("verify.html")

Each ``run_*`` returns its protocol's typed result, a frozen dataclass (:class:`VerifyResult`,
:class:`IdentifyResult`, ...; see :mod:`facewise.evaluate.result`): ``to_dict()`` is what the
CLI prints with ``--json``, ``write_report`` builds the HTML through
:mod:`facewise.evaluate.reports`. The protocols import no plotting library (matplotlib is needed
only for reports), and names load lazily: importing this package loads no model.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "BudgetResult": "budget",
    "ClusterResult": "cluster",
    "CompareResult": "compare",
    "FairnessResult": "fairness",
    "IdentifyResult": "identify",
    "LabResult": "result",
    "PadResult": "pad",
    "RobustnessResult": "robustness",
    "VerifyResult": "verify",
    "verify_embedded": "verify",
    "Pipeline": "cache",
    "embed_images": "cache",
    "resolve_pipeline": "cache",
    "load_folder": "datasets",
    "load_labelled": "datasets",
    "load_manifest": "datasets",
    "load_pairs": "datasets",
    "run_budget": "budget",
    "run_cluster": "cluster",
    "run_compare": "compare",
    "run_fairness": "fairness",
    "run_identify": "identify",
    "run_pad": "pad",
    "run_robustness": "robustness",
    "run_verify": "verify",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"facewise.evaluate.{_WHERE[name]}"), name)
    raise AttributeError(name)
