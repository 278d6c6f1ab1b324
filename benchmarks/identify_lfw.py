"""Open-set identification on LFW dev: is the gallery's FPIR what the setting says, at any size?

Two-fold cross-fitting by identity (fold = first byte of sha256(name) mod 2). For each direction,
the non-mated model (:mod:`facewise.calibration`) is fitted on the images of one fold only,
and tested on the other fold's *strangers* (people with one photo, never enrolled, never seen by
the fit). Galleries of N people with 1 or 3 photos each are drawn at random (5 draws per size):
held-out-fold people first, the fitting fold's people only where the held-out fold has too few
(N = 800 with 1 photo needs both folds; with 3 photos at most 285 people exist). Mated probes are
the enrolled people's other photos.

For each gallery and target FPIR the acceptance threshold comes from the model and the gallery's
shape (people, samples each, template), as ``Gallery.identify`` computes it, and we report

* observed FPIR: the share of strangers whose best match reaches it (target: within 2x of fpir);
* TPIR: the share of mated probes whose best match is their person and reaches it, against the
  *oracle*: the threshold that gives exactly the target FPIR on these same raw scores;
* the same oracle TPIR after cohort score normalisation against the gallery's own people (z-norm
  per person, t-norm per probe, s-norm, adaptive top-k s-norm), to see if any beats raw cosine.

One gallery per size is also run through the real :class:`facewise.gallery.Gallery` (SQLite
store, index, templates) to check that it takes the same decisions as the numpy simulation.

    python benchmarks/identify_lfw.py [--write-thresholds] [--draws 5]

With --write-thresholds the model fitted on *all* of LFW dev goes to
src/facewise/models/thresholds.json (the figures reported are the cross-fitted ones).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from common import DEFAULT, LFW, RESULTS, ROOT, embed_all, machine, write_result
from facewise import Engine
from facewise.calibration import (
    NonMatedModel,
    fit_model,
    fit_table,
    non_mated_scores,
    template_vectors,
)
from facewise.compare import space_key

THRESHOLD_FILE = ROOT / "src" / "facewise" / "models" / "thresholds.json"
FPIRS = (0.01, 0.001)
SIZES = (10, 30, 100, 300, 800)
PHOTOS = (1, 3)
TEMPLATE = "mean"
NORMS = ("raw", "z-norm", "t-norm", "s-norm", "as-norm top-10")


def load() -> tuple[list[str], np.ndarray, list[str]]:
    with (LFW / "manifest.csv").open(newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["path"])
    paths = [r["path"] for r in rows]
    vectors = embed_all(DEFAULT, [str(LFW / p) for p in paths], workers=2, tag="_manifest")
    return paths, vectors, [r["identity"] for r in rows]


def fold_of(name: str) -> int:
    return hashlib.sha256(name.encode()).digest()[0] % 2


def oracle(non_mated_top: np.ndarray, fpir: float) -> float:
    """The lowest threshold accepting at most ``fpir`` of these strangers."""
    top = np.sort(non_mated_top)[::-1]
    allowed = int(np.floor(fpir * len(top)))
    return float(np.nextafter(top[allowed], np.inf)) if allowed < len(top) else float(top[-1])


def normalise(scores: np.ndarray, gallery_t: np.ndarray, how: str, k: int = 10) -> np.ndarray:
    """Cohort-normalised (P, N) scores against the gallery's own people: z-norm uses each
    person's scores against the other enrolled people, t-norm each probe's scores against the
    whole gallery, s-norm their mean, as-norm the same with the top-k cohort only."""
    if how == "raw":
        return scores
    cohort = gallery_t @ gallery_t.T
    np.fill_diagonal(cohort, np.nan)
    if how.startswith("as-norm"):
        k = min(k, len(gallery_t) - 1)
        c = np.sort(np.nan_to_num(cohort, nan=-np.inf), axis=1)[:, ::-1][:, :k]
        mu_p, sd_p = c.mean(axis=1), c.std(axis=1) + 1e-6
        q = np.sort(scores, axis=1)[:, ::-1][:, 1 : k + 1]
        mu_q, sd_q = q.mean(axis=1), q.std(axis=1) + 1e-6
    else:
        mu_p, sd_p = np.nanmean(cohort, axis=1), np.nanstd(cohort, axis=1) + 1e-6
        mu_q, sd_q = scores.mean(axis=1), scores.std(axis=1) + 1e-6
    z = (scores - mu_p[None, :]) / sd_p[None, :]
    t = (scores - mu_q[:, None]) / sd_q[:, None]
    if how == "z-norm":
        return z
    if how == "t-norm":
        return t
    return 0.5 * (z + t)


def top_normalised(scores: np.ndarray, gallery_t: np.ndarray, how: str) -> np.ndarray:
    """The best raw candidate's score per probe, after normalisation."""
    best = scores.argmax(axis=1)
    return normalise(scores, gallery_t, how)[np.arange(len(scores)), best]


def simulate(
    vectors: np.ndarray,
    gallery: dict[str, list[int]],
    photos: int,
    mated: list[tuple[int, int]],
    strangers: list[int],
    model: NonMatedModel,
) -> dict[str, Any]:
    """One gallery: per target FPIR, model threshold -> observed FPIR and TPIR; oracle TPIRs."""
    names = list(gallery)
    templates = np.concatenate(
        [template_vectors(vectors[gallery[n][:photos]], TEMPLATE) for n in names]
    )
    shape = {photos: len(names)}
    probe_rows = [i for i, _ in mated]
    truth = np.array([p for _, p in mated])
    out: dict[str, Any] = {"people": len(names), "strangers": len(strangers), "mated": len(mated)}
    raw = {
        "mated": vectors[probe_rows] @ templates.T,
        "strangers": vectors[strangers] @ templates.T,
    }
    for fpir in FPIRS:
        thr = model.threshold(fpir, shape, template=TEMPLATE)
        s_top = raw["strangers"].max(axis=1)
        m_best = raw["mated"].argmax(axis=1)
        m_top = raw["mated"].max(axis=1)
        row = {
            "threshold": thr,
            "false_accepts": int(np.sum(s_top >= thr)),
            "observed_fpir": float(np.mean(s_top >= thr)),
            "tpir": float(np.mean((m_best == truth) & (m_top >= thr))),
        }
        for how in NORMS:  # ranked by raw cosine; the top candidate's score normalised
            m = top_normalised(raw["mated"], templates, how)
            s = top_normalised(raw["strangers"], templates, how)
            o = oracle(s, fpir)
            row[f"oracle_tpir {how}"] = float(np.mean((m_best == truth) & (m >= o)))
        out[f"fpir={fpir:g}"] = row
    return out


def through_gallery(
    vectors: np.ndarray,
    gallery: dict[str, list[int]],
    photos: int,
    mated: list[tuple[int, int]],
    strangers: list[int],
    names: list[str],
    model: NonMatedModel,
) -> dict[str, Any]:
    """The same gallery through the real Gallery (SQLite store, index, mean templates) with the
    fold's model: its accept decisions for strangers and mated probes at fpir 0.01."""
    from unittest import mock

    from facewise.gallery import Gallery
    from facewise.gallery.records import NewSample

    with (
        tempfile.TemporaryDirectory(prefix="facewise-bench-") as home,
        mock.patch("facewise.gallery.gallery.nonmated_model", return_value=model),
    ):
        g = Gallery(Path(home), Engine(), template=TEMPLATE, fpir=0.01)
        try:
            for person, rows in gallery.items():
                samples = [
                    NewSample(vectors[i], f"{i:08d}", f"lfw:{i}", 1.0, (0, 0, 1, 1))
                    for i in rows[:photos]
                ]
                g.add_samples(
                    person,
                    samples,
                    [],
                    consent="research evaluation",
                    expires_at=None,
                    enrolled_by="benchmark",
                )
            s = g.decide(vectors[strangers])
            m = g.decide(vectors[[i for i, _ in mated]])
        finally:
            g.close()
    truth = [names[i] for i, _ in mated]
    return {
        "false_accepts": sum(d.accepted for d in s),
        "true_accepts": sum(d.person == t for d, t in zip(m, truth, strict=True)),
        "threshold": s[0].threshold if s else None,
    }


def run(vectors: np.ndarray, people: list[str], draws: int) -> list[dict[str, Any]]:
    usable = ~np.isnan(vectors).any(axis=1)
    by_person: dict[str, list[int]] = {}
    for i, who in enumerate(people):
        if usable[i]:
            by_person.setdefault(who, []).append(i)
    rows = []
    for held in (0, 1):
        fit_rows = [i for i in np.flatnonzero(usable) if fold_of(people[i]) != held]
        model = fit_model(
            vectors[fit_rows], np.array(people)[fit_rows], source=f"LFW dev fold {1 - held}"
        )
        strangers = [r[0] for p, r in by_person.items() if len(r) == 1 and fold_of(p) == held]
        for photos in PHOTOS:
            eligible = [p for p, r in by_person.items() if len(r) > photos]
            held_first = sorted(eligible, key=lambda p: (fold_of(p) != held, p))
            for n_eff in sorted({min(n, len(eligible)) for n in SIZES}):
                everyone = n_eff == len(eligible)  # one gallery: every draw would be the same
                for draw in range(1 if everyone else draws):
                    rng = np.random.default_rng(1000 * held + 100 * photos + draw)
                    pool_held = [p for p in held_first if fold_of(p) == held]
                    pool_fit = [p for p in held_first if fold_of(p) != held]
                    take = list(rng.permutation(pool_held))[:n_eff]
                    if len(take) < n_eff:
                        take += list(rng.permutation(pool_fit))[: n_eff - len(take)]
                    gallery = {p: by_person[p] for p in take}
                    mated = [(i, k) for k, p in enumerate(take) for i in by_person[p][photos:]]
                    result = simulate(vectors, gallery, photos, mated, strangers, model)
                    result.update(
                        held_out_fold=held,
                        photos=photos,
                        size=n_eff,
                        draw=draw,
                        gallery_from_fit_fold=sum(fold_of(p) != held for p in take),
                    )
                    if draw == 0:
                        result["real_gallery"] = through_gallery(
                            vectors, gallery, photos, mated, strangers, people, model
                        )
                    rows.append(result)
                    print(
                        f"fold {held} photos {photos} N {n_eff} draw {draw}: "
                        f"FPIR {result['fpir=0.01']['observed_fpir']:.4f} "
                        f"TPIR {result['fpir=0.01']['tpir']:.3f} "
                        f"oracle {result['fpir=0.01']['oracle_tpir raw']:.3f}",
                        flush=True,
                    )
    return rows


def tail_check(vectors: np.ndarray, people: list[str]) -> list[dict[str, float]]:
    """How well the fitted tail extrapolates: a table fitted on 5% of all non-mated pairs of
    LFW dev (single photos) predicts the FMR at scores that only the full 18.9M pairs measure."""
    usable = ~np.isnan(vectors).any(axis=1)
    scores = non_mated_scores(
        vectors[usable], np.array(people)[usable], template="mean", samples=1
    ).astype(np.float64)
    rng = np.random.default_rng(0)
    table = fit_table(rng.choice(scores, len(scores) // 20, replace=False))
    ordered = np.sort(scores)[::-1]
    out = []
    for fmr in (1e-5, 3e-6, 1e-6):
        at = float(ordered[int(np.ceil(fmr * len(ordered))) - 1])
        out.append(
            {
                "measured_fmr": fmr,
                "score": at,
                "predicted_fmr": float(table.fmr(at)),
                "fitted_down_to": float(10 ** table.log10_fmr[-1]),
            }
        )
    return out


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for photos in PHOTOS:
        for n in sorted({r["size"] for r in rows if r["photos"] == photos}):
            group = [r for r in rows if r["photos"] == photos and r["size"] == n]
            for fpir in FPIRS:
                key = f"fpir={fpir:g}"
                fa = sum(r[key]["false_accepts"] for r in group)
                probes = sum(r["strangers"] for r in group)
                mated = sum(r["mated"] for r in group)

                def pooled(
                    field: str,
                    group: list[dict[str, Any]] = group,
                    key: str = key,
                    mated: int = mated,
                ) -> float:
                    return sum(r[key][field] * r["mated"] for r in group) / mated

                table.append(
                    {
                        "photos": photos,
                        "size": n,
                        "people": group[0]["people"],
                        "fpir": fpir,
                        "observed_fpir": fa / probes,
                        "false_accepts": fa,
                        "stranger_searches": probes,
                        "tpir": pooled("tpir"),
                        **{f"oracle_tpir {how}": pooled(f"oracle_tpir {how}") for how in NORMS},
                        "threshold_mean": float(np.mean([r[key]["threshold"] for r in group])),
                    }
                )
    return table


def plot(table: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for fpir, style in zip(FPIRS, ("-", "--"), strict=True):
        for photos, colour in zip(PHOTOS, ("tab:blue", "tab:orange"), strict=True):
            rows = [r for r in table if r["fpir"] == fpir and r["photos"] == photos]
            x = [r["people"] for r in rows]
            axes[0].plot(
                x,
                [r["observed_fpir"] for r in rows],
                style,
                color=colour,
                marker="o",
                label=f"{photos} photo(s), target {fpir:g}",
            )
            axes[1].plot(
                x,
                [100 * (r["tpir"] - r["oracle_tpir raw"]) for r in rows],
                style,
                color=colour,
                marker="o",
                label=f"{photos} photo(s), fpir {fpir:g}",
            )
        axes[0].axhspan(fpir / 2, fpir * 2, color="grey", alpha=0.12)
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="people in the gallery",
        ylabel="observed FPIR (strangers accepted)",
        title="FPIR holds at every size (band: 0.5x-2x target)",
    )
    axes[1].axhline(-2, color="red", lw=0.8)
    axes[1].set(
        xscale="log",
        xlabel="people in the gallery",
        ylabel="TPIR - oracle TPIR (points)",
        title="Cost of not knowing the strangers",
    )
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-thresholds", action="store_true")
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args()
    _, vectors, people = load()
    rows = run(vectors, people, args.draws)
    table = summarise(rows)
    lines = [
        "| photos | people | target FPIR | observed FPIR (false / searches) | TPIR | oracle TPIR "
        "(raw) | best cohort-normalised oracle |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table:
        norm = max(NORMS[1:], key=lambda h: r[f"oracle_tpir {h}"])
        lines.append(
            f"| {r['photos']} | {r['people']} | {r['fpir']:g} | {r['observed_fpir']:.4f} "
            f"({r['false_accepts']} / {r['stranger_searches']}) | {r['tpir']:.3f} | "
            f"{r['oracle_tpir raw']:.3f} | {r[f'oracle_tpir {norm}']:.3f} ({norm}) |"
        )
    norm_lines = [
        "| photos | people | fpir | " + " | ".join(NORMS) + " |",
        "|---|---|---|" + "---|" * len(NORMS),
    ]
    for r in table:
        norm_lines.append(
            f"| {r['photos']} | {r['people']} | {r['fpir']:g} | "
            + " | ".join(f"{r[f'oracle_tpir {h}']:.3f}" for h in NORMS)
            + " |"
        )
    tails = tail_check(vectors, people)
    tail_lines = [
        "| measured FMR (all pairs) | at score | predicted from 5% of pairs |",
        "|---|---|---|",
    ]
    tail_lines += [
        f"| {t['measured_fmr']:.0e} | {t['score']:.4f} | {t['predicted_fmr']:.2e} |" for t in tails
    ]
    real = [r for r in rows if "real_gallery" in r]
    agree = sum(r["real_gallery"]["false_accepts"] == r["fpir=0.01"]["false_accepts"] for r in real)
    info = machine()
    note = (
        f"LFW grayscale dev ({len(people)} images), facewise default pipeline ({DEFAULT}), "
        f"{TEMPLATE} template, {args.draws} galleries per size and fold direction, model fitted "
        f"on the other fold; {info}. Real-gallery check: {agree}/{len(real)} galleries gave the "
        "same number of false accepts as the simulation."
    )
    plot_path = RESULTS / f"identify_lfw-{info['date']}.png"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(table, plot_path)
    markdown = "\n".join(
        [
            "# identify_lfw",
            "",
            note,
            "",
            *lines,
            "",
            "Oracle TPIR by score normalisation:",
            "",
            *norm_lines,
            "",
            f"Tail extrapolation (fit down to {tails[0]['fitted_down_to']:.1e}):",
            "",
            *tail_lines,
        ]
    )
    print(markdown)
    print(
        "written",
        write_result(
            "identify_lfw",
            markdown,
            {"machine": info, "table": table, "rows": rows, "tail_check": tails},
        ),
    )
    if args.write_thresholds:
        usable = ~np.isnan(vectors).any(axis=1)
        model = fit_model(
            vectors[usable],
            np.array(people)[usable],
            source=f"LFW grayscale dev ({int(usable.sum())} images), "
            f"{info['date']}, benchmarks/identify_lfw.py",
        )
        thresholds = json.loads(THRESHOLD_FILE.read_text())
        entry = thresholds[space_key(Engine().space)]
        entry.pop("identify", None)
        entry["nonmated"] = model.as_dict()
        THRESHOLD_FILE.write_text(json.dumps(thresholds, indent=2, sort_keys=True) + "\n")
        print("written", THRESHOLD_FILE)


if __name__ == "__main__":
    main()
