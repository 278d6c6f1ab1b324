"""Train the age and gender heads that ``AgeGenderAnalyzer`` applies, and choose their rules.

    python training/analysis_features.py      # once: the features (benchmarks/.cache)
    python training/age_gender_heads.py       # writes src/facewise/models/age_gender_heads.json

Data: only **half A of UTKFace dev** (the images whose sha256 starts with an even hex digit,
the same half that fixed ``AGE_RANGE_FACTORS``). Half B and the LFW faces are never read here:
they are what ``benchmarks/analysis_heads.py`` reports on.

1. Gender on the dlib ResNet embedding: a logistic regression (scikit-learn, C by 5-fold
   cross-validation on half A).
2. The gender answer: a logistic regression over the two logits (the embedding head's and the
   bundled network's), fitted on the embedding head's out-of-fold logits, so it is itself a
   Platt calibration of the combined score; kept only if its out-of-fold accuracy beats both
   inputs, else the better input, Platt-calibrated.
3. Child abstention: the estimated age (step 5's, out of fold) under which out-of-fold gender
   accuracy on half A falls below 90% (bins of 4 years up to 20); faces predicted younger get
   ``gender: null``.
4. Confidence abstention: the smallest calibrated confidence floor (over the faces the age rule
   answers) that gives out-of-fold accuracy >= 0.955 (a margin over the 0.95 target).
5. Age: a ridge regression of the age (years; alpha by out-of-fold MAE) on the bundled
   network's 81 probabilities, the log of its expected age and the embedding; kept only if its
   out-of-fold MAE beats the network's expectation. Its 80% interval factors (10th/90th
   percentiles of (true+1)/(pred+1)) out of fold.
6. Reliability: isotonic regression would be a table; Platt is two numbers, and the diagram in
   docs/ shows how well it holds on half B.

Everything written is plain numbers: no scikit-learn at run time.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))

from common import CACHE  # noqa: E402
from facewise.analyzers.age_gender import AGE_CLASSES  # noqa: E402

OUT = ROOT / "src" / "facewise" / "models" / "age_gender_heads.json"
SEED = 15


def half_a(sha: np.ndarray) -> np.ndarray:
    return np.array([int(s[0], 16) % 2 == 0 for s in sha])


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def features(data: Any) -> dict[str, np.ndarray]:
    emb = data["embedding"].astype(np.float64)
    gp = data["gender_probs"].astype(np.float64)
    ap = data["age_probs"].astype(np.float64)
    return {
        "embedding": emb,
        "net_logit": logit(gp[:, 1] / gp.sum(axis=1)),
        "age_probs": ap,
        "net_age": ap @ AGE_CLASSES,
        "male": (data["gender"] == "male").astype(int),
        "age": data["age"].astype(np.float64),
    }


def age_design(age_probs: np.ndarray, net_age: np.ndarray, emb: np.ndarray) -> np.ndarray:
    return np.hstack([age_probs, np.log1p(net_age)[:, None], emb])


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--swap",
        action="store_true",
        help="train on half B instead (the check in the other direction; not the shipped file)",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, Ridge
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    data = np.load(CACHE / "analysis_features_utk.npz")
    a = half_a(data["sha256"]) != args.swap
    f = {k: v[a] for k, v in features(data).items()}
    y = f["male"]
    print(f"half {'B' if args.swap else 'A'}: {len(y)} faces")
    folds = StratifiedKFold(5, shuffle=True, random_state=SEED)

    # 1. the embedding head
    warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")
    search = LogisticRegressionCV(Cs=np.logspace(-2, 3, 11).tolist(), cv=folds, max_iter=5000)
    search.fit(f["embedding"], y)
    c = float(search.C_[0])
    emb_head = LogisticRegression(C=c, max_iter=5000).fit(f["embedding"], y)
    oof_emb = cross_val_predict(
        LogisticRegression(C=c, max_iter=5000),
        f["embedding"],
        y,
        cv=folds,
        method="decision_function",
    )
    net = f["net_logit"]
    # 2. the combination (a calibrated stack) against each input alone
    candidates = {
        "stack": np.column_stack([oof_emb, net]),
        "embedding": oof_emb[:, None],
        "network": net[:, None],
    }
    oof: dict[str, np.ndarray] = {}
    for name, x in candidates.items():
        oof[name] = cross_val_predict(
            LogisticRegression(C=1e4, max_iter=1000), x, y, cv=folds, method="predict_proba"
        )[:, 1]
        print(f"  gender {name}: out-of-fold accuracy {np.mean((oof[name] > 0.5) == y):.4f}")
    choice = max(oof, key=lambda k: float(np.mean((oof[k] > 0.5) == y)))
    calib = LogisticRegression(C=1e4, max_iter=1000).fit(candidates[choice], y)
    weights = {"stack": (1.0, 1.0), "embedding": (1.0, 0.0), "network": (0.0, 1.0)}[choice]
    coef = list(calib.coef_[0])
    w_emb = coef[0] if choice != "network" else 0.0
    w_net = coef[-1] if choice != "embedding" else 0.0
    del weights
    p = oof[choice]
    conf = np.maximum(p, 1 - p)
    correct = (p > 0.5) == y

    # 5. age
    x_age = age_design(f["age_probs"], f["net_age"], f["embedding"])
    kfold = KFold(5, shuffle=True, random_state=SEED)
    mae_net = float(np.mean(np.abs(f["net_age"] - f["age"])))
    scores = {}
    for alpha in (0.1, 0.3, 1.0, 3.0, 10.0):
        oof_age = np.maximum(cross_val_predict(Ridge(alpha=alpha), x_age, f["age"], cv=kfold), 0)
        scores[alpha] = (float(np.mean(np.abs(oof_age - f["age"]))), oof_age)
        print(f"  age MAE out of fold: ridge alpha {alpha}: {scores[alpha][0]:.3f}")
    alpha = min(scores, key=lambda k: scores[k][0])
    mae_ridge, oof_age = scores[alpha]
    print(f"  age: ridge {mae_ridge:.2f} (alpha {alpha}) against the network's {mae_net:.2f}")
    use_ridge = mae_ridge < mae_net
    pred = oof_age if use_ridge else f["net_age"]
    ratio = (f["age"] + 1) / (pred + 1)
    lo_f, hi_f = (float(v) for v in np.quantile(ratio, [0.1, 0.9]))
    age_model = Ridge(alpha=alpha).fit(x_age, f["age"])

    # 3. the age under which gender is not given
    pred_age = pred  # the age the answer reports (the head when kept)
    min_age = 0.0
    for lo in np.arange(0, 20, 4.0):
        sel = (pred_age >= lo) & (pred_age < lo + 4)
        acc = float(correct[sel].mean()) if sel.sum() >= 10 else 1.0
        print(
            f"  predicted age {lo:4.0f}-{lo + 4:<4.0f} n={sel.sum():4d} gender accuracy {acc:.3f}"
        )
        if acc < 0.90:
            min_age = float(lo + 4)
    answered = pred_age >= min_age
    print(f"  gender abstains under predicted age {min_age}: answers {answered.mean():.3f}")

    # 4. the confidence floor
    floor = 0.5
    for t in np.arange(0.5, 1.0, 0.005):
        keep = answered & (conf >= t)
        if keep.sum() and correct[keep].mean() >= 0.955:
            floor = float(t)
            break
    keep = answered & (conf >= floor)
    print(
        f"  confidence floor {floor:.3f}: answers {keep.mean():.3f}, accuracy over answered "
        f"{correct[keep].mean():.4f} (out of fold)"
    )

    heads = {
        "about": (
            "Heads over the bundled age/gender networks and the dlib ResNet embedding, trained "
            "by training/age_gender_heads.py on half A of UTKFace dev (sha256 starting with an "
            "even hex digit; research-only data). Plain numbers: no scikit-learn at run time."
        ),
        "gender": {
            "embedding_weights": [round(float(v), 7) for v in emb_head.coef_[0]],
            "embedding_bias": round(float(emb_head.intercept_[0]), 7),
            "embedding_C": c,
            "combine": choice,
            "w_embedding": round(float(w_emb), 7),
            "w_network": round(float(w_net), 7),
            "bias": round(float(calib.intercept_[0]), 7),
            "min_age": min_age,
            "min_confidence": round(floor, 4),
        },
        "age": {
            "model": "ridge" if use_ridge else "network",
            "coef": [round(float(v), 7) for v in age_model.coef_] if use_ridge else [],
            "intercept": round(float(age_model.intercept_), 7) if use_ridge else 0.0,
            "alpha": alpha,
            "range_factors": [round(lo_f, 4), round(hi_f, 4)],
            "network_max_age": float(AGE_CLASSES[-1]),
        },
    }
    args.out.write_text(json.dumps(heads, indent=1) + "\n", encoding="utf-8")
    print("written", args.out)


if __name__ == "__main__":
    main()
