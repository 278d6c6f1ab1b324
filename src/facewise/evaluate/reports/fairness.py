"""The fairness report: error rates per group with their intervals, score distributions per group,
and the max/min ratios."""

from __future__ import annotations

from typing import Any

import numpy as np

from facewise.evaluate.fairness import BINS, FairnessResult
from facewise.evaluate.reports.html import (
    PALETTE,
    Card,
    Report,
    figures,
    fmt,
    fmt_ci,
    paragraph,
    pct,
    pct_ci,
    pipeline_label,
    pipeline_title,
    plot,
    table,
)


def build(result: FairnessResult) -> Report:
    return fairness_report(result.to_dict(), result.hists)


def summary(result: FairnessResult) -> list[str]:
    """The lines ``facewise eval fairness`` prints without ``--json``."""
    d = result.to_dict()
    label = pipeline_label(d["pipeline"])
    lines = [
        f"{label}: {d['pairs_source']}, threshold {d['threshold']:.4f} ({d['threshold_source']})"
    ]
    for g in d["groups"]:
        lines.append(
            f"  {g['group']}: FNMR {pct(g['fnmr'])} of {g['genuine_pairs']:,}, "
            f"FMR {pct(g['fmr'])} of {g['impostor_pairs']:,}"
            + (f"  [{'; '.join(g['warnings'])}]" if g["warnings"] else "")
        )
    for kind in ("fmr", "fnmr"):
        ratio = d[f"{kind}_ratio"]
        if ratio.get("max_group"):
            value = "unbounded" if ratio["value"] is None else f"{ratio['value']:.2f}x"
            lines.append(
                f"{kind.upper()} max/min: {value} ({ratio['max_group']} / {ratio['min_group']})"
            )
        else:
            lines.append(f"{kind.upper()} max/min: {ratio['note']}")
    return lines


def fairness_report(data: dict[str, Any], hists: dict[str, tuple[Any, Any]]) -> Report:
    report = Report(
        f"Fairness by {data['group_column']}",
        f"{pipeline_title(data['pipeline'])} — "
        f"{data['pairs_source']}; one threshold for all: {data['threshold']:.4f} "
        f"({data['threshold_source']})",
        data,
    )
    fmr_r, fnmr_r = data["fmr_ratio"], data["fnmr_ratio"]
    report.cards = [
        Card("threshold", fmt(data["threshold"]), "the same for every group"),
        Card("FMR max/min", _ratio_text(fmr_r), _ratio_note(fmr_r)),
        Card("FNMR max/min", _ratio_text(fnmr_r), _ratio_note(fnmr_r)),
        Card("groups", str(len(data["groups"])), f"{len(data['warnings'])} warning(s)"),
    ]
    parts = []
    for name, r in (("false matches", fmr_r), ("false non-matches", fnmr_r)):
        if r.get("value") is not None:
            parts.append(
                f"{r['max_group']} sees {r['value']:.2f}× the {name} of {r['min_group']}"
                + ("" if r["judgeable"] else " (groups too small or too few errors to be sure)")
            )
    report.verdict = "At one threshold for everyone: " + "; ".join(parts) + "." if parts else ""
    groups = data["groups"]

    def bars(ax: Any, kind: str) -> None:
        rows = [r for r in groups if r[kind] is not None] + [
            {**c, "group": c["groups"]} for c in data["cross_group"] if c[kind] is not None
        ]
        names = [r["group"] for r in rows]
        values = np.array([r[kind] for r in rows])
        lo = values - np.array([r[f"{kind}_ci95"][0] for r in rows])
        hi = np.array([r[f"{kind}_ci95"][1] for r in rows]) - values
        colours = [PALETTE[i % len(PALETTE)] for i in range(len(rows))]
        ax.bar(names, values, yerr=[lo, hi], color=colours, capsize=4, alpha=0.8)
        ax.axhline(data["overall"][kind] or 0, color="k", ls=":", lw=1, label="all pairs")
        ax.set_ylabel(kind.upper())
        ax.set_title(f"{kind.upper()} per group (95% CI)")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelrotation=20)

    centres = (BINS[1:] + BINS[:-1]) / 2

    def dists(ax: Any) -> None:
        for i, (g, (gen, imp)) in enumerate(hists.items()):
            colour = PALETTE[i % len(PALETTE)]
            if imp.sum():
                ax.plot(centres, imp / imp.sum(), color=colour, label=f"{g} impostor")
            if gen.sum():
                ax.plot(centres, gen / gen.sum(), color=colour, ls="--", label=f"{g} genuine")
        ax.axvline(data["threshold"], color="k", lw=1, label="threshold")
        used = np.flatnonzero(sum(a + b for a, b in hists.values()))
        if used.size:
            ax.set_xlim(centres[used[0]], centres[used[-1]])
        ax.set_xlabel("score")
        ax.set_ylabel("share of pairs")
        ax.set_title("Score distributions per group")
        ax.legend(fontsize=8)

    report.section(
        "Error rates per group",
        figures(
            plot(lambda ax: bars(ax, "fmr"), "FMR per group"),
            plot(lambda ax: bars(ax, "fnmr"), "FNMR per group"),
            plot(dists, "score distributions per group", width=10.4),
        ),
    )
    header = [
        "group",
        "genuine pairs",
        "FNMR",
        "95% CI",
        "impostor pairs",
        "FMR",
        "95% CI",
        "warnings",
    ]

    def row(name: str, r: dict[str, Any]) -> list[Any]:
        return [
            name,
            fmt(r["genuine_pairs"]),
            pct(r["fnmr"], 3),
            pct_ci(r["fnmr_ci95"]),
            fmt(r["impostor_pairs"]),
            pct(r["fmr"], 3),
            pct_ci(r["fmr_ci95"]),
            "; ".join(r["warnings"]),
        ]

    report.section(
        "Per group",
        table(header, [row(r["group"], r) for r in groups] + [row("all pairs", data["overall"])]),
    )
    if data["cross_group"]:
        report.section(
            "Across groups",
            table(header, [row(c["groups"], c) for c in data["cross_group"]]),
            paragraph("Impostor pairs whose two images fall in different groups."),
        )
    report.section(
        "Ratios",
        table(
            ["rate", "max/min", "highest", "lowest", "conservative interval", "judgeable"],
            [
                [
                    k,
                    _ratio_text(r),
                    r.get("max_group", "—"),
                    r.get("min_group", "—"),
                    fmt_ci(r.get("interval"), 2),
                    fmt(r.get("judgeable")),
                ]
                for k, r in (("FMR", fmr_r), ("FNMR", fnmr_r))
            ],
        ),
    )
    unlabelled_what = "pairs" if data["dataset"]["pairs"] else "unlabelled images"
    report.notes = [
        f"One threshold for every group: {data['threshold_source']}.",
        "A pair belongs to a group when both images carry its label; pairs with an unlabelled "
        f"image are left out ({data['unlabelled']:,} {unlabelled_what}).",
        "95% intervals: Clopper–Pearson, treating pairs as independent (pairs sharing images are "
        "not: the intervals are optimistic).",
        f"Warnings: fewer than {data['min_pairs']} pairs of a kind (too small to judge) or fewer "
        "than 30 errors (Doddington's rule of 30).",
        "Ratio interval: the highest group's lower bound over the lowest group's upper bound, and "
        "the reverse — conservative.",
        "Images without a face score −∞ in every pair: false non-matches when genuine "
        f"({data['failed_images']} such images).",
    ]
    return report


def _ratio_text(r: dict[str, Any]) -> str:
    if r.get("value") is not None:
        return f"{r['value']:.2f}×"
    return "∞" if r.get("max_group") else "—"


def _ratio_note(r: dict[str, Any]) -> str:
    if not r.get("max_group"):
        note: str = r.get("note", "")
        return note
    return f"{r['max_group']} vs {r['min_group']}" + ("" if r.get("judgeable") else " (uncertain)")
