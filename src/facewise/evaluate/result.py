"""What every protocol of the lab returns: a frozen dataclass of its figures.

Each protocol module (``verify``, ``identify``, ...) defines its own result, a subclass of
:class:`LabResult` whose fields are the figures in the order ``--json`` prints them. A field with
``metadata=OPTIONAL`` is left out of the JSON while it is ``None`` (bootstrap intervals when there
was no bootstrap); one with ``metadata=INTERNAL`` (the per-pair scores a plot needs) never goes
into the JSON.

:meth:`LabResult.to_dict` is exactly what ``facewise eval <command> --json`` prints (without
``report``): plain JSON types, NaN and infinities as ``null``. The HTML report is built by
:mod:`facewise.evaluate.reports` from the result, loaded only when asked for: the protocols and
this module import no plotting library.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from facewise.evaluate.reports.html import Report

INTERNAL: dict[str, bool] = {"internal": True}
"""Field metadata: kept for the report, never in the JSON."""
OPTIONAL: dict[str, bool] = {"optional": True}
"""Field metadata: left out of the JSON while ``None``."""


@dataclass(frozen=True, kw_only=True, eq=False)
class LabResult:
    """The figures of one evaluation; subclasses add them as fields."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """The figures as ``--json`` prints them: ``kind`` first, then the fields in order."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            if f.metadata.get("internal"):
                continue
            value = getattr(self, f.name)
            if value is None and f.metadata.get("optional"):
                continue
            out[f.name] = value
        data: dict[str, Any] = jsonable(out)
        return data

    @property
    def data(self) -> dict[str, Any]:
        """The same as :meth:`to_dict` (the name the lab's first callers used)."""
        return self.to_dict()

    def report(self) -> Report:
        """The HTML report of these figures (needs matplotlib)."""
        from facewise.evaluate.reports import build

        return build(self)

    def write_report(self, path: Path | str) -> Path:
        return self.report().write(path)

    def write_json(self, path: Path | str) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return target


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays unwrapped, NaN and infinities as None."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    return value
