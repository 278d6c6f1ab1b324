"""The identification report: CMC, the open-set DET, the effect of gallery size, and the tables
behind them."""

from __future__ import annotations

from typing import Any

import numpy as np

from facewise.evaluate.identify import IdentifyResult, det_points
from facewise.evaluate.reports.html import (
    Card,
    Report,
    figures,
    fmt,
    paragraph,
    pct,
    pct_ci,
    pipeline_label,
    pipeline_title,
    plot,
    table,
)


def build(result: IdentifyResult) -> Report:
    return identify_report(result.to_dict(), (result.mated_scores, result.non_mated_top))


def summary(result: IdentifyResult) -> list[str]:
    """The lines ``facewise eval identify`` prints without ``--json``."""
    d = result.to_dict()
    label = pipeline_label(d["pipeline"])
    lines = [
        f"{label}: {d['enrolled_people']} people enrolled, {d['mated_probes']} mated / "
        f"{d['non_mated_probes']} non-mated probes",
        f"rank-1 {pct(d['rank1'])}   rank-5 {pct(d['cmc']['5'])}   rank-20 {pct(d['cmc']['20'])}",
        "FNIR at FPIR: " + ", ".join(f"{k}: {pct(v)}" for k, v in d["fnir_at_fpir"].items()),
        "gallery size: "
        + ", ".join(f"{c['people']} people rank-1 {pct(c['rank1'])}" for c in d["gallery_size"]),
    ]
    return lines


def identify_report(data: dict[str, Any], det: tuple[Any, Any]) -> Report:
    proto = data["protocol"]
    report = Report(
        "Identification (1:N)",
        f"{pipeline_title(data['pipeline'])} — "
        f"{data['dataset']['source']}: {data['enrolled_people']:,} people enrolled with "
        f"{proto['enrol']} photo(s) each ({proto['template']} template), "
        f"{data['mated_probes']:,} mated and {data['non_mated_probes']:,} non-mated probes",
        data,
    )
    fnir = data["fnir_at_fpir"]
    key = "0.01" if "0.01" in fnir else next(iter(fnir), None)
    report.cards = [
        Card("rank-1", pct(data["rank1"]), pct_ci(data["rank1_ci95"], 2)),
        Card("rank-5", pct(data["cmc"]["5"])),
        Card("rank-20", pct(data["cmc"]["20"])),
    ]
    if key:
        report.cards.append(
            Card(f"FNIR @ FPIR {key}", pct(fnir[key]), pct_ci(data["fnir_at_fpir_ci95"][key], 2))
        )
    report.cards.append(
        Card(
            "failed images",
            fmt(data["failed_images"]),
            f"{data['failed_mated_probes']} mated probes count as misses",
        )
    )
    if key:
        report.verdict = (
            f"The right person comes first for {pct(data['rank1'], 1)} of searches. With the "
            f"threshold set so that {float(key):.0%} of strangers get a false match, "
            f"{pct(fnir[key], 1)} of enrolled people are missed."
        )
    ranks = list(range(1, 21))
    cmc = [data["cmc"][str(r)] for r in ranks]
    fpir, fnir_curve = det_points(*det)
    curve = data["gallery_size"]

    def draw_cmc(ax: Any) -> None:
        ax.plot(ranks, cmc, marker="o", ms=3)
        ax.set_xlabel("rank")
        ax.set_ylabel("identification rate")
        ax.set_title("CMC (closed set)")
        ax.set_xticks([1, 5, 10, 15, 20])

    def draw_det(ax: Any) -> None:
        floor_x = 0.5 / max(1, data["non_mated_probes"])
        floor_y = 0.5 / max(1, data["mated_probes"])
        ax.step(np.maximum(fpir, floor_x), np.maximum(fnir_curve, floor_y), where="post")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("false positive identification rate (FPIR)")
        ax.set_ylabel("false negative identification rate (FNIR)")
        ax.set_title("Open set DET")

    def draw_size(ax: Any) -> None:
        people = [c["people"] for c in curve]
        ax.plot(people, [c["rank1"] for c in curve], marker="o", label="rank-1")
        if key:
            ax.plot(
                people,
                [c["fnir_at_fpir"].get(key) for c in curve],
                marker="s",
                label=f"FNIR @ FPIR {key}",
            )
        ax.set_xscale("log")
        ax.set_xlabel("people enrolled")
        ax.set_ylabel("rate")
        ax.set_title("Effect of gallery size")
        ax.legend(fontsize=8)

    report.section(
        "Curves",
        figures(
            plot(draw_cmc, "CMC curve"),
            plot(draw_det, "open-set DET curve"),
            plot(draw_size, "gallery size curve"),
        ),
    )
    report.section(
        "FNIR at fixed FPIR",
        table(
            ["FPIR", "FNIR", "95% interval", "threshold"],
            [
                [
                    f,
                    pct(v),
                    pct_ci(data["fnir_at_fpir_ci95"][f], 2),
                    fmt(data["threshold_at_fpir"][f]),
                ]
                for f, v in fnir.items()
            ]
            + [[f, "not supported", why, "—"] for f, why in data["fpir_unsupported"].items()],
        ),
    )
    report.section(
        "CMC",
        table(
            ["rank", "identification rate"],
            [[r, pct(data["cmc"][str(r)])] for r in (1, 2, 3, 5, 10, 20)],
        ),
    )
    report.section(
        "Gallery size",
        table(
            ["share", "people", "mated probes", "rank-1", f"FNIR @ FPIR {key}"],
            [
                [
                    f"{c['share']:.0%}",
                    c["people"],
                    c["mated_probes"],
                    pct(c["rank1"]),
                    pct(c["fnir_at_fpir"].get(key)) if key else "—",
                ]
                for c in curve
            ],
        ),
        paragraph(
            "Nested random subsets of the enrolled people (seed "
            f"{data['seed']}); non-mated probes stay the same distractors."
        ),
    )
    report.notes = [
        f"Gallery: facewise.gallery.Gallery on a temporary home, {proto['template']} template, "
        f"the first {proto['enrol']} photo(s) of each person with at least "
        f"{proto['min_photos']} usable photos; the rest are mated probes.",
        "Distractors: people with exactly one usable photo, never enrolled (non-mated probes).",
        "FNIR at FPIR: threshold = lowest score with at most FPIR of non-mated searches "
        "accepted; reported only with at least 1/FPIR non-mated probes.",
        "Mated probes whose image gave no face count as misses at every rank and threshold.",
        "95% intervals: Clopper–Pearson (exact binomial) with the threshold held fixed.",
    ]
    return report
