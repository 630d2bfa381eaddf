"""Metrics, threshold rule and temperature scaling against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pneumonia_core.calibration import choose_threshold, fit_temperature
from pneumonia_core.metrics import (
    REPORT_KEYS,
    average_precision,
    expected_calibration_error,
    roc_auc,
    sigmoid,
)
from training.evaluate import compute_metrics


def test_known_confusion_matrix() -> None:
    # threshold 0.5 -> TP=3 (0.9, 0.8, 0.6), FN=1 (0.3), TN=4 (0.1, 0.2, 0.4, 0.45), FP=2 (0.7, 0.55)
    labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    probs = [0.9, 0.8, 0.6, 0.3, 0.1, 0.2, 0.4, 0.45, 0.7, 0.55]
    m = compute_metrics(labels, probs, 0.5)
    assert set(REPORT_KEYS) <= set(m)
    assert m["confusion_matrix"] == {"tn": 4, "fp": 2, "fn": 1, "tp": 3}
    assert m["accuracy"] == pytest.approx(7 / 10)
    assert m["sensitivity"] == pytest.approx(3 / 4)
    assert m["specificity"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["npv"] == pytest.approx(4 / 5)
    assert m["f1"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))
    # ROC AUC by counting pairs: positives 0.9, 0.8 beat all 6 negatives; 0.6 beats 4 (not 0.7);
    # 0.3 beats 2 (0.1, 0.2) -> (6 + 6 + 5 + 2) / 24. 0.6 > 0.55 so 0.6 beats 5.
    assert m["roc_auc"] == pytest.approx((6 + 6 + 5 + 2) / 24)
    brier = np.mean((np.array(probs) - np.array(labels)) ** 2)
    assert m["brier"] == pytest.approx(brier)
    assert m["threshold"] == 0.5


def test_roc_auc_ties_count_half() -> None:
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_average_precision_hand_computed() -> None:
    # ranked: 0.9(+) 0.8(-) 0.7(+) 0.1(-): AP = 0.5*1 + 0.5*(2/3)
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.5 + 1 / 3)


def test_ece_hand_computed() -> None:
    # two bins used (10 bins): [0.1-0.2) holds 0.15 x4 with 1 positive; [0.9-1.0] holds 0.95 x4, 4 positive
    labels = [1, 0, 0, 0, 1, 1, 1, 1]
    probs = [0.15] * 4 + [0.95] * 4
    expected = 0.5 * abs(0.25 - 0.15) + 0.5 * abs(1.0 - 0.95)
    assert expected_calibration_error(labels, probs, n_bins=10) == pytest.approx(expected)


def test_threshold_rule_highest_specificity_at_target() -> None:
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(100, int), np.zeros(100, int)]
    probs = np.r_[rng.uniform(0.3, 1.0, 100), rng.uniform(0.0, 0.7, 100)]
    thr = choose_threshold(labels, probs, 0.98)
    m = compute_metrics(labels, probs, thr["value"])
    assert m["sensitivity"] >= 0.98
    assert thr["sensitivity"] == pytest.approx(m["sensitivity"])
    assert thr["specificity"] == pytest.approx(m["specificity"])
    # exhaustive check: no candidate threshold meets the target with a higher specificity
    best_spec = max(compute_metrics(labels, probs, t)["specificity"] for t in np.unique(probs)
                    if compute_metrics(labels, probs, t)["sensitivity"] >= 0.98)
    assert thr["specificity"] == pytest.approx(best_spec)
    assert "specificity" in thr["rule"] and thr["target_sensitivity"] == 0.98
    # a lower target keeps fewer positives and cannot lower specificity
    assert choose_threshold(labels, probs, 0.9)["specificity"] >= thr["specificity"]


def test_threshold_needs_positives() -> None:
    with pytest.raises(ValueError, match="positive"):
        choose_threshold([0, 0], [0.1, 0.2])


def test_temperature_scaling_lowers_ece_on_overconfident_logits() -> None:
    rng = np.random.default_rng(1)
    true_logits = rng.normal(0, 2, 4000)
    labels = (rng.random(4000) < sigmoid(true_logits)).astype(int)
    overconfident = 3.0 * true_logits  # a model whose logits are 3x too large
    t = fit_temperature(labels, overconfident)
    assert t == pytest.approx(3.0, rel=0.15)
    before = expected_calibration_error(labels, sigmoid(overconfident))
    after = expected_calibration_error(labels, sigmoid(overconfident / t))
    assert after < before / 2
    assert after < 0.03
