"""The clustering report: how the clusters match the identities, strangers kept apart, and the
clicks each labelling workflow needs (curves of correct names against actions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from facewise.evaluate.cluster import ClusterResult
from facewise.evaluate.reports.html import (
    PALETTE,
    Card,
    Report,
    figures,
    fmt,
    paragraph,
    pct,
    pipeline_title,
    plot,
    table,
)

_NAMES = {"facewise": "facewise", "immich": "Immich-style", "naive": "one by one"}


def summary(result: ClusterResult) -> list[str]:
    """The lines ``facewise eval cluster`` prints without ``--json``."""
    d = result.to_dict()
    s = d["scores"]
    once = d["singletons"]
    lines = [
        f"{d['faces']} faces of {d['identities']} people -> {d['clusters']} clusters, "
        f"{d['unclustered']} faces alone",
        f"BCubed P {s['bcubed_precision']:.4f} R {s['bcubed_recall']:.4f} F {s['bcubed_f']:.4f}"
        f"   pairwise P {s['pairwise_precision']:.4f} R {s['pairwise_recall']:.4f} "
        f"F {s['pairwise_f']:.4f}   NMI {s['nmi']:.4f}",
        f"people seen once: {once['people_seen_once']}, kept alone: {once['kept_alone']}",
    ]
    for scenario, row in d["comparison"].items():
        parts = []
        for w in ("facewise", "immich", "naive"):
            r = result.run(w, scenario)
            parts.append(
                f"{_NAMES[w]} {r['actions']} ({fmt(r['actions_per_named_person'], 2)}/person)"
            )
        ratio = row.get("facewise_over_immich")
        lines.append(
            f"labelling to {pct(d['protocol']['target'], 0)} ({scenario}): "
            + ", ".join(parts)
            + (f"; facewise/Immich {ratio:.2f}" if ratio is not None else "")
        )
    return lines


def build(result: ClusterResult) -> Report:
    d = result.to_dict()
    s = d["scores"]
    once = d["singletons"]
    proto = d["protocol"]
    report = Report(
        "Clustering a collection by person",
        f"{pipeline_title(d['pipeline'])} — {d['dataset']['source']}: {d['faces']:,} faces of "
        f"{d['identities']:,} people",
        d,
    )
    fw_all = result.run("facewise", proto["scenarios"][0])
    report.cards = [
        Card("BCubed F", fmt(s["bcubed_f"]), f"P {fmt(s['bcubed_precision'])}"),
        Card("pairwise F", fmt(s["pairwise_f"]), f"P {fmt(s['pairwise_precision'])}"),
        Card("NMI", fmt(s["nmi"])),
        Card("clusters", fmt(d["clusters"]), f"{d['identities']:,} identities"),
        Card(
            "strangers kept alone",
            f"{once['kept_alone']:,} / {once['people_seen_once']:,}",
            "people seen once left unclustered",
        ),
        Card(
            "facewise actions / person",
            fmt(fw_all["actions_per_named_person"], 2),
            f"{fw_all['actions']:,} actions, {fw_all['scenario']} scenario",
        ),
    ]
    verdicts = []
    for scenario, row in d["comparison"].items():
        ratio = row.get("facewise_over_immich")
        if ratio is not None:
            verdicts.append(
                f"{scenario}: facewise needs {ratio:.0%} of the Immich-style workflow's actions "
                f"({fmt(row['facewise_actions_per_named_person'], 2)} per named person)"
            )
    report.verdict = "; ".join(verdicts) + "."

    def draw_sizes(ax: Any) -> None:
        for key, label, color in (
            ("true", "identities", PALETTE[2]),
            ("predicted", "clusters", PALETTE[0]),
        ):
            hist = d["cluster_sizes"][key]
            xs = [int(k) for k in hist]
            ax.plot(xs, [hist[k] for k in hist], marker="o", ms=3, label=label, color=color)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("faces per cluster / identity")
        ax.set_ylabel("how many")
        ax.set_title("Cluster sizes: predicted and true")
        ax.legend(fontsize=8)

    def draw_curve(scenario: str) -> Any:
        def draw(ax: Any) -> None:
            for i, w in enumerate(("facewise", "immich", "naive")):
                curve = result.curves.get(f"{w}/{scenario}")
                if curve is None or len(curve) == 0:
                    continue
                ax.plot(
                    np.arange(len(curve)),
                    curve / max(1, d["faces"]),
                    label=_NAMES[w],
                    color=PALETTE[i],
                )
            ax.axhline(proto["target"], color="#57606a", lw=0.8, ls="--")
            ax.set_xlabel("actions")
            ax.set_ylabel("faces correctly named")
            ax.set_title(f"Labelling effort ({scenario})")
            ax.legend(fontsize=8)

        return draw

    report.section(
        "Curves",
        figures(
            plot(draw_sizes, "cluster size distributions"),
            *(
                plot(draw_curve(sc), f"actions against correct names, {sc}")
                for sc in d["comparison"]
            ),
        ),
    )
    report.section(
        "Clustering against identities",
        table(
            ["figure", "precision", "recall", "F"],
            [
                ["BCubed", fmt(s["bcubed_precision"]), fmt(s["bcubed_recall"]), fmt(s["bcubed_f"])],
                [
                    "pairwise",
                    fmt(s["pairwise_precision"]),
                    fmt(s["pairwise_recall"]),
                    fmt(s["pairwise_f"]),
                ],
            ],
        ),
        paragraph(
            f"NMI {fmt(s['nmi'])}. {d['clusters']:,} clusters of two or more faces and "
            f"{d['unclustered']:,} faces alone, for {d['identities']:,} identities. Of "
            f"{once['people_seen_once']:,} people seen once, {once['kept_alone']:,} stayed "
            f"unclustered; {once['recurring_faces_unclustered']:,} faces of people seen more "
            "than once were left alone too."
        ),
    )
    report.section(
        "Labelling effort",
        table(
            [
                "scenario",
                "workflow",
                "actions",
                "named people",
                "per named person",
                "reached",
                "by kind",
            ],
            [
                [
                    r["scenario"],
                    _NAMES.get(r["workflow"], r["workflow"]),
                    r["actions"],
                    r["named_people"],
                    fmt(r["actions_per_named_person"], 3),
                    fmt(r["reached"]),
                    ", ".join(f"{k} {v}" for k, v in sorted(r["kinds"].items())),
                ]
                for r in d["labelling"]
            ],
        ),
    )
    report.notes = [
        f"Clustering: facewise.cluster.cluster_vectors with false_links "
        f"{proto['params']['false_links']:g}: link threshold {fmt(proto['link_threshold'])} "
        f"(single-comparison FMR {proto['link_fmr']:.2g}, from {proto['fmr_model']}).",
        "Scores: BCubed and pairwise precision/recall/F and NMI against the identities; a face "
        "left unclustered counts as a cluster of one.",
        f"Labelling: a simulated user who knows every face acts until {pct(proto['target'], 0)} "
        "of all faces are correct. One action = one click or answer (naming a cluster, a yes/no "
        "answer, accepting or rejecting a merge, naming or moving one face); finding a wrong "
        "face costs nothing in every workflow.",
        "Scenario all: a face is correct when it carries its name. Scenario recurring: only "
        "people seen twice or more are named; a face of a person seen once is correct when it "
        "carries no name.",
        f"Immich-style: Immich's grouping (minFaces {proto['immich']['min_faces']}, maxDistance "
        f"{fmt(proto['immich']['max_distance'])} cosine distance, from "
        f"{proto['immich']['max_distance_from']}); name each person largest first, merge "
        "duplicates by naming them alike, fix each wrong face one at a time.",
    ]
    return report
