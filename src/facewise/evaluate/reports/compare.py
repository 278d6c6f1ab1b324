"""The comparison report: overlaid ROC and DET, the paired-bootstrap forest plot and the tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from facewise.evaluate.compare import CompareResult
from facewise.evaluate.reports.html import (
    PALETTE,
    Card,
    Report,
    figures,
    fmt,
    fmt_ci,
    pct,
    plot,
    table,
)
from facewise.evaluate.reports.verify import roc_axes, wrap


def build(result: CompareResult) -> Report:
    return compare_report(result.to_dict(), result.scores, result.labels)


def summary(result: CompareResult) -> list[str]:
    """The lines ``facewise eval compare`` prints without ``--json``."""
    d = result.to_dict()
    lines = [
        f"{s['name']}: accuracy {pct(s['accuracy'])} ± {pct(s['accuracy_std'])}, "
        f"EER {pct(s['eer'])}"
        for s in d["systems"]
    ]
    lines += [
        f"{x['system']} - baseline: {100 * x['accuracy_diff']:+.2f} pts "
        f"[{100 * x['ci95'][0]:+.2f}, {100 * x['ci95'][1]:+.2f}]"
        + (" significant" if x["significant"] else "")
        for x in d["differences"]
    ]
    return lines


def compare_report(data: dict[str, Any], scores: dict[str, Any], labels: Any) -> Report:
    systems = data["systems"]
    report = Report(
        "Comparison",
        f"{len(systems)} systems on the same {data['dataset']['pairs']:,} pairs of "
        f"{data['dataset']['source']}; baseline: {data['baseline']}",
        data,
    )
    report.cards = [
        Card(
            s["name"] if len(s["name"]) < 40 else s["name"][:37] + "…",
            pct(s["accuracy"]),
            f"± {pct(s['accuracy_std'])}, EER {pct(s['eer'])}",
        )
        for s in systems[:4]
    ]
    lines = []
    for d in data["differences"]:
        sign = "+" if d["accuracy_diff"] >= 0 else "−"
        verdict = "a real difference" if d["significant"] else "within the noise"
        lines.append(
            f"{d['system']}: {sign}{abs(d['accuracy_diff']) * 100:.2f} points "
            f"[{d['ci95'][0] * 100:+.2f}, {d['ci95'][1] * 100:+.2f}] — {verdict}"
        )
    report.verdict = "Against the baseline: " + "; ".join(lines) + "."
    curves = [(name, s, labels) for name, s in scores.items()]
    diffs = data["differences"]

    def forest(ax: Any) -> None:
        ys = np.arange(len(diffs))
        for i, d in enumerate(diffs):
            lo, hi = d["ci95"]
            colour = PALETTE[(i + 1) % len(PALETTE)]
            ax.errorbar(
                d["accuracy_diff"] * 100,
                i,
                xerr=[[(d["accuracy_diff"] - lo) * 100], [(hi - d["accuracy_diff"]) * 100]],
                fmt="o",
                color=colour,
                capsize=4,
            )
        ax.axvline(0, color="k", lw=1)
        ax.set_yticks(ys, [wrap(d["system"], 50) for d in diffs], fontsize=8)
        ax.set_xlabel("accuracy difference from baseline (points), 95% CI")
        ax.set_title("Paired bootstrap")

    report.section(
        "Curves",
        figures(
            plot(lambda ax: roc_axes(ax, curves), "overlaid ROC"),
            plot(lambda ax: roc_axes(ax, curves, det=True), "overlaid DET"),
            plot(forest, "accuracy differences", width=10.4, height=1.6 + 0.6 * len(diffs)),
        ),
    )
    fars = sorted({k for s in systems for k in s["tar_at_far"]}, key=float, reverse=True)
    report.section(
        "Systems",
        table(
            ["system", "accuracy", "± std", "AUC", "EER"]
            + [f"TAR @ FAR {f}" for f in fars]
            + ["failed pairs"],
            [
                [
                    s["name"],
                    pct(s["accuracy"]),
                    pct(s["accuracy_std"]),
                    fmt(s["auc"]),
                    pct(s["eer"]),
                ]
                + [pct(s["tar_at_far"].get(f)) for f in fars]
                + [s["failed_pairs"]]
                for s in systems
            ],
        ),
    )
    report.section(
        "Differences from the baseline",
        table(
            [
                "system",
                "accuracy difference",
                "95% CI (paired bootstrap)",
                "significant",
                "resamples where better",
            ],
            [
                [
                    d["system"],
                    f"{d['accuracy_diff'] * 100:+.2f} pts",
                    fmt_ci([d["ci95"][0] * 100, d["ci95"][1] * 100], 2),
                    fmt(d["significant"]),
                    pct(d["share_better"], 1),
                ]
                for d in diffs
            ],
        ),
    )
    b = data["bootstrap"]
    report.notes = [
        "Every system is scored on the same pairs; k-fold accuracy with the threshold chosen on "
        "the other folds.",
        f"Paired bootstrap: {b['reps']} resamples (seed {b['seed']}), pairs drawn with "
        "replacement within each fold x same/different stratum; each resample is scored by "
        "every system, and the percentile interval of the difference is reported.",
        "Fusion: z-normalised score sum with impostor statistics from the training folds only.",
        "A pair without a face on a side scores −∞ (rejected) in every system.",
        *data["dataset"].get("notes", []),
    ]
    return report
