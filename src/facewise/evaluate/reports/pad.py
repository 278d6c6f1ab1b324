"""The PAD report: APCER per attack type and the worst, BPCER, ACER at the threshold used (and
where it came from), the operating points, the DET curve, the score distributions, and what the
test set covers."""

from __future__ import annotations

from typing import Any

import numpy as np

from facewise.evaluate.pad import PadResult, det_curve
from facewise.evaluate.reports.html import (
    PALETTE,
    Card,
    Report,
    figures,
    fmt,
    paragraph,
    pct,
    plot,
    table,
)

SOURCES = {
    "dev": "the dev set's EER threshold (APCER = BPCER on dev), applied unchanged to the test set",
    "model": "the model's own threshold (no dev set given)",
}

THRESHOLD_FROM = {"dev": "fixed on the dev set", "model": "the model's own"}


def _split(result: PadResult) -> tuple[Any, dict[str, Any]]:
    types = np.asarray(result.attack_types)
    live = result.scores[result.bona_fide]
    kinds = sorted({t for t, b in zip(result.attack_types, result.bona_fide, strict=True) if not b})
    return live, {t: result.scores[~result.bona_fide & (types == t)] for t in kinds}


def summary(result: PadResult) -> list[str]:
    """The lines ``facewise eval pad`` prints without ``--json``."""
    t = result.test
    per_type = ", ".join(f"{k} {pct(v)}" for k, v in t["apcer"].items())
    return [
        f"{result.model['name']} / {result.detector}: {t['bona_fide']} bona fide, "
        f"{sum(t['attacks'].values())} attacks",
        f"threshold {result.threshold:.4f} ({SOURCES[result.threshold_source]})",
        f"APCER {per_type} (worst {t['worst_attack']} {pct(t['apcer_worst'])})   "
        f"BPCER {pct(t['bpcer'])}   ACER {pct(t['acer'])}",
        "BPCER at APCER "
        + ", ".join(f"{k}: {pct(v)}" for k, v in t["bpcer_at_apcer"].items())
        + "   APCER at BPCER "
        + ", ".join(f"{k}: {pct(v)}" for k, v in t["apcer_at_bpcer"].items()),
        f"EER {pct(t['eer'])}   AUC {t['auc']:.4f}   failed images {result.failed_images}",
        *result.coverage,
    ]


def det_axes(ax: Any, live: Any, attacks: dict[str, Any], threshold: float) -> None:
    """BPCER against APCER (both log) for each attack type and the worst, the threshold used."""
    floor_b = 0.5 / max(1, live.size)
    curves = {f"worst of {len(attacks)} type(s)": attacks} if len(attacks) > 1 else {}
    curves.update({name: {name: scores} for name, scores in attacks.items()})
    for i, (label, group) in enumerate(curves.items()):
        _, ap, bp = det_curve(live, group)
        floor_a = 0.5 / max(1, min(np.asarray(s).size for s in group.values()))
        ax.step(
            np.maximum(ap, floor_a),
            np.maximum(bp, floor_b),
            where="post",
            color=PALETTE[i % len(PALETTE)],
            label=label,
            lw=1.6,
        )
    ap_t = max(float(np.mean(np.asarray(s) >= threshold)) for s in attacks.values())
    bp_t = float(np.mean(live < threshold))
    floor_all = 0.5 / max(1, min(np.asarray(s).size for s in attacks.values()))
    ax.plot(
        [max(ap_t, floor_all)], [max(bp_t, floor_b)], "o", color="black", label="threshold used"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("APCER (attacks accepted as live)")
    ax.set_ylabel("BPCER (bona fide rejected)")
    ax.set_title("DET")
    ax.legend(loc="lower left", fontsize=7)


def histogram_axes(ax: Any, live: Any, attacks: dict[str, Any], threshold: float) -> None:
    bins = np.linspace(0.0, 1.0, 41)
    ax.hist(live[np.isfinite(live)], bins=bins, alpha=0.6, color=PALETTE[2], label="bona fide")
    for i, (name, scores) in enumerate(attacks.items()):
        s = np.asarray(scores)
        ax.hist(s[np.isfinite(s)], bins=bins, alpha=0.5, color=PALETTE[(i + 1) % 8], label=name)
    ax.axvline(threshold, color="black", ls="--", lw=1.2, label="threshold")
    ax.set_xlabel("live score")
    ax.set_ylabel("images")
    ax.set_title("Score distributions")
    ax.legend(fontsize=8)


def build(result: PadResult) -> Report:
    data = result.to_dict()
    t = result.test
    report = Report(
        "Presentation-attack detection",
        f"{result.model['name']} / {result.detector} — {data['dataset']['test']['source']}, "
        f"{t['bona_fide']} bona fide and {sum(t['attacks'].values())} attack images",
        data,
    )
    report.cards = [
        Card("ACER", pct(t["acer"]), "(worst APCER + BPCER) / 2"),
        Card("APCER (worst)", pct(t["apcer_worst"]), str(t["worst_attack"])),
        Card("BPCER", pct(t["bpcer"]), "bona fide rejected"),
        Card("threshold", fmt(result.threshold), THRESHOLD_FROM[result.threshold_source]),
        Card("BPCER @ APCER 5%", pct(t["bpcer_at_apcer"]["0.05"]), "BPCER20"),
    ]
    report.verdict = (
        f"At {SOURCES[result.threshold_source]} ({result.threshold:.4f}), "
        f"{pct(t['apcer_worst'], 1)} of the worst attack type's presentations "
        f"({t['worst_attack']}) pass as live and {pct(t['bpcer'], 1)} of bona fide ones are "
        f"rejected. {' '.join(result.coverage)}"
    )
    live, attacks = _split(result)
    report.section(
        "Curves",
        figures(
            plot(lambda ax: det_axes(ax, live, attacks, result.threshold), "DET curve"),
            plot(
                lambda ax: histogram_axes(ax, live, attacks, result.threshold),
                "score histogram",
            ),
        ),
    )
    report.section(
        "At the threshold used",
        table(
            ["attack type", "attacks", "APCER"],
            [[k, t["attacks"][k], pct(v)] for k, v in t["apcer"].items()],
        ),
        paragraph(
            f"BPCER {pct(t['bpcer'])} over {t['bona_fide']} bona fide images; "
            f"ACER {pct(t['acer'])}; EER {pct(t['eer'])}; AUC {fmt(t['auc'])}."
        ),
    )
    report.section(
        "Operating points (over every threshold on the test set)",
        table(
            ["target", "the other error"],
            [
                [f"APCER ≤ {pct(float(k), 0)}", f"BPCER {pct(v)}"]
                for k, v in t["bpcer_at_apcer"].items()
            ]
            + [
                [f"BPCER ≤ {pct(float(k), 0)}", f"APCER {pct(v)}"]
                for k, v in t["apcer_at_bpcer"].items()
            ],
        ),
    )
    if result.dev is not None:
        d = result.dev
        report.section(
            "Dev set (where the threshold was fixed)",
            paragraph(
                f"{data['dataset']['dev']['source']}: {d['bona_fide']} bona fide, "
                f"{sum(d['attacks'].values())} attacks; at its EER threshold "
                f"{d['threshold']:.4f}: worst APCER {pct(d['apcer_worst'])}, BPCER "
                f"{pct(d['bpcer'])}, ACER {pct(d['acer'])}."
            ),
        )
    report.section("What this test set covers", *(paragraph(n) for n in result.coverage))
    if result.failures:
        report.section(
            "Images without a face",
            paragraph(
                f"{result.failed_images} image(s): bona fide ones count as BPCER errors, "
                "attacks as rejected (never dropped)."
            ),
            table(
                ["set", "image", "reason"],
                [[f["set"], f["path"], f["reason"]] for f in result.failures[:30]],
            ),
        )
    report.notes = [
        "Scores: the PAD model's live probability of the largest face of each image; live when "
        "score ≥ threshold.",
        "APCER per attack type (ISO/IEC 30107-3); the headline APCER is the worst type's; "
        "ACER = (worst APCER + BPCER) / 2.",
        "BPCER at APCER x: the lowest BPCER over the thresholds whose worst-type APCER is at most "
        "x (and the reverse); the DET curve plots both over every threshold.",
        f"Threshold: {SOURCES[result.threshold_source]}.",
        "Error rates of 0 are drawn at half an image on the log axes of the DET curve.",
        "An image without a face scores −∞ (a bona fide one is a BPCER error, an attack is "
        "rejected).",
    ]
    return report
