"""The age/gender answer rules (abstention, calibration, range flags) on hand-made network
outputs: no weights, no images."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from facewise.analyzers.age_gender import AGE_CLASSES, Heads, answer


def heads(**over: float) -> Heads:
    values = {
        "w_embedding": 0.0,
        "w_network": 1.0,
        "bias": 0.0,
        "min_age": 12.0,
        "min_confidence": 0.8,
    }
    values.update(over)
    return Heads(
        np.zeros(128),
        0.0,
        values["w_embedding"],
        values["w_network"],
        values["bias"],
        values["min_age"],
        values["min_confidence"],
        None,
        0.0,
        (0.7, 1.4),
        80.0,
    )


def ages_at(years: float) -> np.ndarray:
    probs = np.zeros(81)
    probs[int(np.argmin(np.abs(AGE_CLASSES - years)))] = 1.0
    return probs


def test_an_adult_with_a_clear_network_answer_gets_a_gender() -> None:
    out = answer(heads(), np.array([0.05, 0.95]), ages_at(35), np.zeros(128))
    assert out["gender"] == "male" and out["gender_uncertain"] is False
    assert out["gender_reason"] is None
    assert out["gender_confidence"] == pytest.approx(0.95, abs=1e-3)
    assert out["age"] == 35 and out["age_range"][0] < 35 < out["age_range"][1]
    assert out["age_beyond_range"] is False and out["age_range_level"] == 0.8


def test_a_child_gets_no_gender_and_says_why() -> None:
    out = answer(heads(), np.array([0.01, 0.99]), ages_at(6), np.zeros(128))
    assert out["gender"] is None and out["gender_uncertain"] is True
    assert "under 12" in out["gender_reason"]
    assert out["gender_confidence"] == pytest.approx(0.99, abs=1e-3)


def test_a_low_confidence_gets_no_gender() -> None:
    out = answer(heads(), np.array([0.3, 0.7]), ages_at(40), np.zeros(128))
    assert out["gender"] is None and "floor 0.80" in out["gender_reason"]


def test_the_calibration_and_the_embedding_head_move_the_answer() -> None:
    # the embedding head: weight on the first component only
    h = dataclasses.replace(
        heads(w_embedding=1.0, w_network=0.0), embedding_weights=np.eye(128)[0] * 4
    )
    emb = np.zeros(128)
    emb[0] = -1.0  # z = -4: female with p = 1 / (1 + e^-4)
    out = answer(h, np.array([0.01, 0.99]), ages_at(30), emb)
    assert out["gender"] == "female"
    assert out["gender_confidence"] == pytest.approx(1 / (1 + math.exp(-4)), abs=1e-3)


def test_the_last_age_class_is_flagged_beyond_the_model_range() -> None:
    out = answer(heads(), np.array([0.1, 0.9]), ages_at(80), np.zeros(128))
    assert out["age"] == 80 and out["age_beyond_range"] is True


def test_without_heads_the_network_alone_always_answers() -> None:
    out = answer(None, np.array([0.45, 0.55]), ages_at(3), None)
    assert out["gender"] == "male" and out["gender_uncertain"] is False
