"""The robustness report: accuracy, TAR and FMR against each degradation's severity."""

from __future__ import annotations

from typing import Any

from facewise.evaluate.reports.html import (
    PALETTE,
    Card,
    Report,
    figures,
    fmt,
    pct,
    pct_ci,
    pipeline_label,
    pipeline_title,
    plot,
    table,
)
from facewise.evaluate.robustness import KINDS, Kind, RobustnessResult


def build(result: RobustnessResult) -> Report:
    return robustness_report(result.to_dict())


def summary(result: RobustnessResult) -> list[str]:
    """The lines ``facewise eval robustness`` prints without ``--json``."""
    d = result.to_dict()
    label = pipeline_label(d["pipeline"])
    lines = [
        f"{label}: clean accuracy {pct(d['clean']['accuracy'])}, "
        f"TAR @ FAR {d['far_key']} {pct(d['clean']['tar_at_far'])}"
    ]
    for deg in d["degradations"]:
        for row in deg["rows"]:
            lines.append(
                f"  {deg['kind']} {row['severity']:g}: accuracy {pct(row['accuracy'])}, "
                f"TAR {pct(row['tar_at_far'])}, probes without a face {row['failed_probes']}"
            )
    return lines


def robustness_report(data: dict[str, Any]) -> Report:
    clean = data["clean"]
    far = data["far_key"]
    report = Report(
        "Robustness to image degradation",
        f"{pipeline_title(data['pipeline'])} — "
        f"{data['dataset']['source']}, {data['dataset']['pairs']:,} pairs, "
        f"{data['probes']:,} probe images degraded",
        data,
    )
    worst = [
        (d["kind"], min(d["rows"], key=lambda x: x["tar_at_far"])) for d in data["degradations"]
    ]
    worst.sort(key=lambda x: x[1]["tar_at_far"])
    report.cards = [
        Card("clean accuracy", pct(clean["accuracy"]), f"± {pct(clean['accuracy_std'])}"),
        Card(f"clean TAR @ FAR {far}", pct(clean["tar_at_far"]), f"{data['probes']} probes"),
    ]
    report.cards += [
        Card(
            f"{k} {r['severity']:g}",
            pct(r["tar_at_far"]),
            f"TAR @ FAR {far}; {r['failed_probes']} probe(s) without a face",
        )
        for k, r in worst[:3]
    ]
    if worst:
        k, r = worst[0]
        report.verdict = (
            f"Hardest condition tested: {k} at {r['severity']:g} — TAR at FAR {far} falls from "
            f"{pct(clean['tar_at_far'], 1)} to {pct(r['tar_at_far'], 1)}; at the clean "
            f"threshold the false-match rate becomes {pct(r['fmr_clean_threshold'], 2)} "
            f"(clean: {pct(clean['fmr_clean_threshold'], 2)}), and {r['failed_probes']} of "
            f"{data['probes']} probes lose their face."
        )
    imgs = [
        _curve(d, KINDS[d["kind"]], data, far, PALETTE[i % len(PALETTE)])
        for i, d in enumerate(data["degradations"])
    ]
    report.section("Accuracy against severity", figures(*imgs))
    columns = [
        "severity",
        "accuracy",
        "± std",
        f"TAR @ FAR {far}",
        "95% CI",
        "TAR @ clean thr.",
        "FMR @ clean thr.",
        "probes without a face",
        "pairs failed",
    ]

    def cells(name: str, r: dict[str, Any]) -> list[Any]:
        return [
            name,
            pct(r["accuracy"]),
            pct(r["accuracy_std"]),
            pct(r["tar_at_far"]),
            pct_ci(r["tar_at_far_ci95"], 2),
            pct(r["tar_clean_threshold"]),
            pct(r["fmr_clean_threshold"], 3),
            f"{r['failed_probes']} ({pct(r['probe_failure_rate'], 1)})",
            r["failed_pairs"],
        ]

    for d in data["degradations"]:
        report.section(
            f"{d['kind']} ({d['unit']})",
            table(
                columns,
                [cells(f"{r['severity']:g}", r) for r in d["rows"]] + [cells("clean", clean)],
            ),
        )
    report.notes = [
        f"Probe side: {data['probe_side']}.",
        "Accuracy: each fold's threshold chosen on the other folds' clean pairs (fixed, as "
        "deployed); mean and std over folds.",
        f"TAR @ FAR {far}: threshold re-set on this condition's impostor pairs so the FAR holds. "
        f"TAR/FMR @ clean thr.: at the clean pairs' FAR {far} threshold "
        f"({fmt(data['threshold'])}) — what a deployed system would see.",
        "resolution: the image is shrunk (area averaging) so that the face found in the clean "
        "image has the given width, then enlarged back to the original size (bilinear); "
        f"clean faces are {fmt(data['clean_face_width_median'], 0)} px wide (median).",
        "jpeg: OpenCV re-encoding at that quality; blur: Gaussian sigma in px; noise: Gaussian, "
        "sigma in grey levels, seeded per image; brightness: pixel values times the gain, "
        "clipped.",
        "A degraded probe without a face fails: its pairs score −∞ and are rejected (counted).",
        "95% intervals: Clopper–Pearson with the threshold held fixed.",
        *data["dataset"].get("notes", []),
    ]
    return report


def _curve(d: dict[str, Any], kind: Kind, data: dict[str, Any], far: str, colour: str) -> str:
    """One degradation's curves, starting from the clean point (drawn at the clean severity:
    the clean face width, quality 100, sigma 0, gain 1)."""
    clean = data["clean"]
    start = data["clean_face_width_median"] if d["kind"] == "resolution" else kind.clean
    rows = [{**clean, "severity": start}, *d["rows"]] if start is not None else d["rows"]
    rows = sorted(rows, key=lambda r: r["severity"])
    xs = [r["severity"] for r in rows]

    def draw(ax: Any) -> None:
        ax.plot(xs, [r["accuracy"] for r in rows], marker="o", color=colour, label="accuracy")
        ax.plot(
            xs,
            [r["tar_at_far"] for r in rows],
            marker="s",
            color=colour,
            ls="--",
            label=f"TAR @ FAR {far}",
        )
        ax.plot(
            xs,
            [r["fmr_clean_threshold"] for r in rows],
            marker="^",
            color=PALETTE[1],
            ls="-.",
            label="FMR @ clean threshold",
        )
        ax.plot(
            xs,
            [r["probe_failure_rate"] for r in rows],
            marker="x",
            color="#57606a",
            ls=":",
            label="probes without a face",
        )
        if kind.log_axis:
            ax.set_xscale("log")
            ax.axvline(kind.clean, color="k", alpha=0.3, lw=1)
        if kind.worse_when_lower:
            ax.invert_xaxis()
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(d["unit"] + ("" if kind.log_axis else " (worse →)"))
        ax.set_ylabel("rate")
        ax.set_title(d["kind"])
        ax.legend(fontsize=7, loc="center left")

    return plot(draw, f"{d['kind']} curve", width=5.2, height=3.6)
