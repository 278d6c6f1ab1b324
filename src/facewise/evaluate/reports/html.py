"""The pieces every report is made of: headline cards, plots as base64 PNG (matplotlib, Agg
canvas, no pyplot state, imported only when a plot is drawn), tables and the method notes, in one
self-contained HTML file (no external assets: it opens anywhere).

The JSON a command prints is embedded in its report (``<script type="application/json"
id="facewise-result">``), so the two never disagree.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facewise.errors import InvalidInput

PALETTE = ["#1f6feb", "#d1242f", "#1a7f37", "#bf8700", "#8250df", "#0a7d8c", "#cf222e", "#57606a"]


@dataclass(frozen=True, slots=True)
class Card:
    """A headline number: label, value as shown, a short note under it."""

    label: str
    value: str
    note: str = ""


@dataclass(slots=True)
class Report:
    """A report being put together; :meth:`html` renders it."""

    title: str
    subtitle: str
    data: dict[str, Any]
    cards: list[Card] = field(default_factory=list)
    verdict: str = ""
    parts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def section(self, title: str, *body: str) -> None:
        self.parts.append(f"<section><h2>{esc(title)}</h2>{''.join(body)}</section>")

    def html(self) -> str:
        cards = "".join(
            f'<div class="card"><div class="label">{esc(c.label)}</div>'
            f'<div class="value">{esc(c.value)}</div><div class="note">{esc(c.note)}</div></div>'
            for c in self.cards
        )
        notes = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        payload = json.dumps(self.data, ensure_ascii=False).replace("</", "<\\/")
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(self.title)}</title>
<style>{CSS}</style></head>
<body><main>
<header><h1>{esc(self.title)}</h1><p class="sub">{esc(self.subtitle)}</p></header>
<div class="cards">{cards}</div>
{f'<p class="verdict">{esc(self.verdict)}</p>' if self.verdict else ""}
{"".join(self.parts)}
<section><h2>How these figures were made</h2><ul class="notes">{notes}</ul></section>
<footer>facewise evaluation report</footer>
</main>
<script type="application/json" id="facewise-result">{payload}</script>
</body></html>
"""

    def write(self, path: Path | str) -> Path:
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.html(), encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot write the report to {target}: {exc.strerror}") from None
        return target


CSS = """
body{margin:0;background:#f6f8fa;color:#1f2328;font:15px/1.5 system-ui,-apple-system,"Segoe UI",
Helvetica,Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px}
header h1{margin:0;font-size:26px}.sub{margin:4px 0 16px;color:#57606a}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:10px;padding:12px 16px;min-width:150px;
flex:1}
.card .label{color:#57606a;font-size:13px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:28px;font-weight:600}.card .note{color:#57606a;font-size:13px}
.verdict{background:#ddf4ff;border:1px solid #54aeff;border-radius:10px;padding:10px 14px}
section{background:#fff;border:1px solid #d0d7de;border-radius:10px;padding:8px 18px 16px;
margin:16px 0}
section h2{font-size:18px;margin:10px 0}
.figs{display:flex;flex-wrap:wrap;gap:8px}.figs img{max-width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border-bottom:1px solid #d8dee4;padding:5px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f8fa}
td.warn{color:#9a6700}.bad{color:#cf222e}.good{color:#1a7f37}
.notes li{margin:3px 0}footer{color:#8c959f;font-size:12px;text-align:center}
"""


def esc(value: object) -> str:
    return html.escape(str(value))


def fmt(value: Any, digits: int = 4) -> str:
    """A number as the report shows it ("—" for missing)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if math.isinf(value):
            return "∞"
        return f"{value:.{digits}f}"
    return str(value)


def fmt_ci(ci: Sequence[float] | None, digits: int = 4) -> str:
    if not ci:
        return "—"
    return f"[{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]"


def pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def pct_ci(ci: Sequence[float] | None, digits: int = 3) -> str:
    if not ci:
        return "—"
    return f"[{pct(ci[0], digits)}, {pct(ci[1], digits)}]"


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{cell if _is_html(cell) else esc(cell)}</td>" for cell in r)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Html(str):
    """A table cell that is already HTML."""


def _is_html(cell: object) -> bool:
    return isinstance(cell, Html)


def pipeline_label(pipeline: dict[str, Any]) -> str:
    """The label of the pipeline a result names (``{"detector": ..., "embedder": ..., "flip":
    ...}``), as :attr:`facewise.evaluate.cache.Pipeline.label` writes it."""
    from facewise.evaluate.cache import Pipeline

    return Pipeline(pipeline["detector"], pipeline["embedder"], pipeline["flip"]).label


def pipeline_title(pipeline: dict[str, Any]) -> str:
    """The pipeline as a report's subtitle names it: ``dlib-resnet / hog+mtcnn / flip on``."""
    p = pipeline
    return f"{p['embedder']} / {p['detector']} / flip {'on' if p['flip'] else 'off'}"


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


# --- figures --------------------------------------------------------------------------------------


def figure(width: float = 5.2, height: float = 3.8) -> Any:
    """A matplotlib Figure on an Agg canvas (no pyplot, no global backend switch)."""
    from facewise.extras import require

    FigureCanvasAgg = require("matplotlib.backends.backend_agg").FigureCanvasAgg
    Figure = require("matplotlib.figure").Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png(fig: Any, alt: str) -> str:
    """An <img> holding the figure as a base64 PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def figures(*imgs: str) -> str:
    return f'<div class="figs">{"".join(imgs)}</div>'


def plot(draw: Callable[[Any], None], alt: str, *, width: float = 5.2, height: float = 3.8) -> str:
    """Draw on one axes and return it as an <img>."""
    fig = figure(width, height)
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    draw(ax)
    return png(fig, alt)
