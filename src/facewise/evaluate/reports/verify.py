"""The verification report: ROC and DET curves, the score histogram, TAR at FAR, the folds and
the failures to enrol."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from facewise.evaluate import metrics
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
from facewise.evaluate.verify import SCORING_RULE, VerifyResult

BOOTSTRAP_NOTE = (
    "95% intervals: percentile bootstrap ({reps} resamples, seed {seed}); pairs resampled with "
    "replacement within each fold x same/different stratum, every figure recomputed."
)


def build(result: VerifyResult) -> Report:
    return verify_report(result.to_dict(), result.scores, result.labels)


def summary(result: VerifyResult) -> list[str]:
    """The lines ``facewise eval verify`` prints without ``--json``."""
    d = result.to_dict()
    label = pipeline_label(d["pipeline"])
    lines = [
        f"{label}: {d['pairs']} pairs, folds {d['dataset']['folds']}",
        f"accuracy {pct(d['accuracy'])} ± {pct(d['accuracy_std'])}   AUC {d['auc']:.4f}   "
        f"EER {pct(d['eer'])}",
        "TAR at FAR: "
        + ", ".join(f"{k}: {pct(v)}" for k, v in d["tar_at_far"].items())
        + "".join(f"; {k}: not supported" for k in d["tar_at_far_unsupported"]),
        f"failed pairs {d['failed_pairs']} ({d['failed_images']} images without a face)",
    ]
    return lines


def roc_axes(ax: Any, curves: list[tuple[str, Any, Any]], *, det: bool = False) -> None:
    """ROC (TAR against FAR, log FAR) or DET (FNMR against FMR, both log) for several systems."""
    lows = []
    for i, (label, scores, labels) in enumerate(curves):
        fmr, tmr, _ = metrics.roc_curve(scores, labels)
        lows.append(float(tmr[fmr <= 0.01].max()) if (fmr <= 0.01).any() else 0.0)
        floor = 0.5 / max(1, int((~np.asarray(labels)).sum()))
        x = np.maximum(fmr, floor)
        y = np.maximum(1 - tmr, 0.5 / max(1, int(np.asarray(labels).sum()))) if det else tmr
        ax.step(x, y, where="post", color=PALETTE[i % len(PALETTE)], label=wrap(label), lw=1.6)
    ax.set_xscale("log")
    ax.set_xlabel("false match rate (FAR)")
    if det:
        ax.set_yscale("log")
        ax.set_ylabel("false non-match rate (FNMR)")
        ax.set_title("DET")
    else:
        ax.set_ylabel("true match rate (TAR)")
        ax.set_title("ROC")
        ax.set_ylim(max(0.0, min(lows) - 0.05), 1.005)
    ax.legend(loc="lower right" if not det else "lower left", fontsize=7)


def wrap(label: str, width: int = 34) -> str:
    return textwrap.fill(label, width)


def histogram_axes(ax: Any, scores: Any, labels: Any, marks: dict[str, float]) -> None:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    finite = np.isfinite(s)
    bins = np.linspace(s[finite].min(), s[finite].max(), 60) if finite.any() else 10
    ax.hist(s[y & finite], bins=bins, alpha=0.6, color=PALETTE[2], label="genuine")
    ax.hist(s[~y & finite], bins=bins, alpha=0.6, color=PALETTE[1], label="impostor")
    for i, (name, value) in enumerate(marks.items()):
        ax.axvline(value, color=PALETTE[(i + 3) % len(PALETTE)], ls="--", lw=1.2, label=name)
    ax.set_xlabel("score (cosine similarity)")
    ax.set_ylabel("pairs")
    ax.set_title("Score distributions")
    ax.legend(fontsize=8)


def verify_report(data: dict[str, Any], scores: Any, labels: Any) -> Report:
    report = Report(
        "Verification",
        f"{pipeline_title(data['pipeline'])} — "
        f"{data['dataset']['source']}, {data['pairs']:,} pairs, "
        f"folds {data['dataset']['folds']}",
        data,
    )
    best_far = next(iter(sorted(data["tar_at_far"], key=float)), None)
    report.cards = [
        Card("accuracy", pct(data["accuracy"]), f"± {pct(data['accuracy_std'])} over folds"),
        Card("AUC", fmt(data["auc"]), fmt_ci(data.get("auc_ci95"))),
        Card("EER", pct(data["eer"]), pct_ci(data.get("eer_ci95"), 2)),
    ]
    if best_far is not None:
        report.cards.append(
            Card(
                f"TAR @ FAR {best_far}",
                pct(data["tar_at_far"][best_far]),
                pct_ci(data.get("tar_at_far_ci95", {}).get(best_far), 2),
            )
        )
    report.cards.append(
        Card(
            "failed pairs",
            fmt(data["failed_pairs"]),
            f"{data['failed_images']} image(s) without a face",
        )
    )
    if best_far is not None:
        report.verdict = (
            f"At a false-accept rate of {best_far}, {pct(data['tar_at_far'][best_far], 1)} of "
            f"genuine pairs are accepted; k-fold accuracy {pct(data['accuracy'])}. "
            f"{data['failed_pairs']} of {data['pairs']:,} pairs had no face on a side "
            "(counted as rejections)."
        )
    marks = {"k-fold threshold (mean)": float(np.mean([f["threshold"] for f in data["per_fold"]]))}
    if best_far is not None:
        marks[f"FAR {best_far} threshold"] = data["threshold_at_far"][best_far]
    curves = [("this pipeline", scores, labels)]
    report.section(
        "Curves",
        figures(
            plot(lambda ax: roc_axes(ax, curves), "ROC curve"),
            plot(lambda ax: roc_axes(ax, curves, det=True), "DET curve"),
            plot(
                lambda ax: histogram_axes(ax, scores, labels, marks), "score histogram", width=10.4
            ),
        ),
    )
    ci = data.get("tar_at_far_ci95", {})
    rows = [
        [
            far,
            pct(data["tar_at_far"][far]),
            pct_ci(ci.get(far), 2),
            fmt(data["threshold_at_far"][far]),
        ]
        for far in sorted(data["tar_at_far"], key=float, reverse=True)
    ]
    rows += [
        [far, "not supported", why, "—"] for far, why in data["tar_at_far_unsupported"].items()
    ]
    report.section(
        "True accept rate at fixed false accept rates",
        table(["FAR", "TAR", "95% interval", "threshold"], rows),
    )
    report.section(
        "Per fold (threshold chosen on the other folds)",
        table(
            ["fold", "accuracy", "threshold"],
            [[f["fold"], pct(f["accuracy"]), fmt(f["threshold"])] for f in data["per_fold"]],
        ),
        paragraph(
            f"Mean {pct(data['accuracy'])} ± {pct(data['accuracy_std'])} (population std over "
            f"folds); 95% interval {pct_ci(data.get('accuracy_ci95'), 2)}."
        ),
    )
    failure_rows = [[f["path"], f["reason"]] for f in data["failures"][:30]]
    report.section(
        "Failures to enrol",
        paragraph(
            f"{data['failed_images']} of {data['images']:,} images gave no face; "
            f"{data['failed_pairs']} pairs affected ({data['failed_genuine_pairs']} genuine, "
            f"{data['failed_impostor_pairs']} impostor). {SCORING_RULE}"
        ),
        table(["image", "reason"], failure_rows) if failure_rows else "",
    )
    report.notes = [
        "k-fold protocol: for each fold the accuracy-maximising threshold is chosen on the other "
        "folds and applied to this fold; mean and population std over folds.",
        "TAR at FAR: threshold = the lowest score at which at most FAR x impostors are accepted, "
        "over all pairs; a FAR is reported only with at least 1/FAR impostor pairs.",
        "EER interpolated between neighbouring thresholds; AUC = Mann-Whitney statistic "
        "(ties count half).",
        SCORING_RULE,
    ]
    if "bootstrap" in data:
        b = data["bootstrap"]
        report.notes.append(BOOTSTRAP_NOTE.format(reps=b["reps"], seed=b["seed"]))
    report.notes += data["dataset"].get("notes", [])
    return report
