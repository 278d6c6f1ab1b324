"""The reports of the lab: one module per protocol, each with ``build(result) -> Report`` (the
HTML report of the result a protocol of :mod:`facewise.evaluate` returned) and
``summary(result) -> lines`` (what the CLI prints without ``--json``), over the pieces in
:mod:`facewise.evaluate.reports.html`.

Reports depend on the protocols, never the reverse; matplotlib is imported only when a plot is
drawn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from facewise.evaluate.reports.html import Report
    from facewise.evaluate.result import LabResult

KINDS = ("verify", "identify", "fairness", "robustness", "budget", "compare", "cluster", "pad")


def _module(result: LabResult) -> Any:
    if result.kind not in KINDS:
        raise ValueError(f"no report for a {result.kind!r} result")
    return importlib.import_module(f"facewise.evaluate.reports.{result.kind}")


def build(result: LabResult) -> Report:
    """The HTML report of ``result``, by its kind."""
    report: Report = _module(result).build(result)
    return report


def summary(result: LabResult) -> list[str]:
    """The text summary of ``result`` (what the CLI prints without ``--json``)."""
    lines: list[str] = _module(result).summary(result)
    return lines
