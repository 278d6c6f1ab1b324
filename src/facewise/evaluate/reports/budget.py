"""The time-budget report: accuracy against time per face, the tiers and every configuration."""

from __future__ import annotations

from typing import Any

from facewise.evaluate.budget import BudgetResult, pareto
from facewise.evaluate.reports.html import (
    PALETTE,
    Card,
    Report,
    figures,
    fmt,
    pct,
    plot,
    table,
)


def build(result: BudgetResult) -> Report:
    return budget_report(result.to_dict())


def summary(result: BudgetResult) -> list[str]:
    """The lines ``facewise eval budget`` prints without ``--json``."""
    d = result.to_dict()
    lines = [
        f"{c['config']}: accuracy {pct(c['accuracy'])}, {c['ms_per_face']:.1f} ms per face"
        for c in sorted(d["configs"], key=lambda c: c["ms_per_face"])
    ]
    for tier, best in d["tiers"].items():
        lines.append(
            f"<= {tier} ms: "
            + (f"{best['config']} {pct(best['accuracy'])}" if best else "none fits")
        )
    return lines


def budget_report(data: dict[str, Any]) -> Report:
    rows = data["configs"]
    report = Report(
        "Accuracy within a time budget",
        f"{len(rows)} configurations — {data['dataset']['source']}, "
        f"{data['dataset']['pairs']:,} pairs; time per face on this machine, "
        f"{data['timing']['threads']} thread(s)",
        data,
    )
    for tier, best in data["tiers"].items():
        report.cards.append(
            Card(
                f"≤ {tier} ms",
                pct(best["accuracy"]) if best else "none",
                f"{best['config']} ({best['ms_per_face']:.0f} ms)" if best else "nothing fits",
            )
        )
    fastest = min(rows, key=lambda r: r["ms_per_face"])
    top = max(rows, key=lambda r: (r["accuracy"], -r["ms_per_face"]))
    report.verdict = (
        f"Most accurate: {top['config']} ({pct(top['accuracy'])}, {top['ms_per_face']:.0f} ms per "
        f"face); fastest: {fastest['config']} ({fastest['ms_per_face']:.0f} ms, "
        f"{pct(fastest['accuracy'])})."
    )
    slowest = max(r["ms_per_face"] for r in rows)
    first_tier = min(data["tiers_ms"], default=None)
    if first_tier is not None and slowest <= first_tier:
        report.verdict += (
            f" Every configuration takes at most {first_tier} ms per face here, so the tiers "
            "do not separate them on this machine."
        )
    front = pareto(rows)

    combos = sorted({(r["embedder"], r["flip"]) for r in rows})
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(combos)}
    marks = ["o", "s", "^", "D", "v", "P"]
    dets = sorted({r["detector"] for r in rows})
    marker = {d: marks[i % len(marks)] for i, d in enumerate(dets)}

    def draw(ax: Any) -> None:
        for r in rows:
            ax.scatter(
                r["ms_per_face"],
                r["accuracy"],
                s=44,
                zorder=3,
                alpha=0.85,
                color=colour[(r["embedder"], r["flip"])],
                marker=marker[r["detector"]],
            )
        for r in front:
            ax.annotate(
                r["config"],
                (r["ms_per_face"], r["accuracy"]),
                fontsize=7,
                xytext=(5, -10),
                textcoords="offset points",
            )
        ax.plot(
            [r["ms_per_face"] for r in front],
            [r["accuracy"] for r in front],
            color="k",
            lw=1,
            alpha=0.4,
            label="best trade-offs",
        )
        for (emb, flip), c in colour.items():
            ax.scatter([], [], color=c, label=f"{emb}, flip {'on' if flip else 'off'}")
        for d, m in marker.items():
            ax.scatter([], [], color="#57606a", marker=m, label=f"detector {d}")
        for tier in data["tiers_ms"]:
            ax.axvline(tier, color="#8c959f", ls="--", lw=1)
            ax.text(tier, 0.02, f" {tier} ms", fontsize=8, transform=ax.get_xaxis_transform())
        ax.set_xscale("log")
        low = min(r["ms_per_face"] for r in rows) * 0.7
        high = max(max(data["tiers_ms"]) * 1.3, max(r["ms_per_face"] for r in rows) * 1.5)
        ax.set_xlim(low, high)
        ax.set_xlabel("ms per face (detect + align + embed)")
        ax.set_ylabel("k-fold accuracy")
        ax.set_title("Accuracy against time per face")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))

    report.section(
        "Accuracy against time per face",
        figures(plot(draw, "accuracy vs time", width=10.4, height=5.0)),
    )
    report.section(
        "Tiers",
        table(
            ["budget", "best configuration", "accuracy", "ms per face"],
            [
                [
                    f"≤ {t} ms",
                    b["config"] if b else "none fits",
                    pct(b["accuracy"]) if b else "—",
                    fmt(b["ms_per_face"], 1) if b else "—",
                ]
                for t, b in data["tiers"].items()
            ],
        ),
    )
    report.section(
        "All configurations",
        table(
            [
                "configuration",
                "accuracy",
                "± std",
                "ms per face",
                "p90 ms",
                "failed pairs",
                "images without a face",
            ],
            [
                [
                    r["config"],
                    pct(r["accuracy"]),
                    pct(r["accuracy_std"]),
                    fmt(r["ms_per_face"], 1),
                    fmt(r["ms_p90"], 1),
                    r["failed_pairs"],
                    r["failed_images"],
                ]
                for r in sorted(rows, key=lambda r: r["ms_per_face"])
            ],
        ),
    )
    t = data["timing"]
    report.notes = [
        f"Time: {t['what']}; {t['threads']} inference thread(s), one process, {t['images']} "
        f"images, {t['rounds']} interleaved rounds; {t['statistic']}. Times depend on this "
        "machine and on what else ran on it.",
        "Accuracy: k-fold protocol on the pairs (threshold chosen on the other folds); a pair "
        "without a face on a side is a rejection.",
        "A tier's best: the most accurate configuration whose median time per face is within it.",
        *data["dataset"].get("notes", []),
    ]
    return report
