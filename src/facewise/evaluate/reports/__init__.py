"""The HTML reports of the lab: one module per protocol, each with ``build(result) -> Report``
(the result a protocol of :mod:`facewise.evaluate` returned), over the pieces in
:mod:`facewise.evaluate.reports.html`.

Reports depend on the protocols, never the reverse; matplotlib is imported only when a plot is
drawn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facewise.evaluate.reports.html import Report
    from facewise.evaluate.result import LabResult

KINDS = ("verify", "identify", "fairness", "robustness", "budget", "compare")


def build(result: LabResult) -> Report:
    """The report of ``result``, by its kind."""
    if result.kind not in KINDS:
        raise ValueError(f"no report for a {result.kind!r} result")
    module = importlib.import_module(f"facewise.evaluate.reports.{result.kind}")
    report: Report = module.build(result)
    return report
