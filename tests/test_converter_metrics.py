"""The converter's gate (and the shared metrics it uses), checked against values worked out by
hand."""

from __future__ import annotations

import numpy as np
import pytest

from converter.validation import Scores, compare
from pneumonia_core import metrics


def test_roc_auc_counts_pairs_and_half_ties() -> None:
    # 2 positives x 2 negatives = 4 pairs: (0.9>0.1) (0.9>0.4) (0.4=0.4 tie) (0.4>0.1) -> 3.5/4
    assert metrics.roc_auc([1, 1, 0, 0], [0.9, 0.4, 0.4, 0.1]) == pytest.approx(0.875)
    assert metrics.roc_auc([0, 1], [0.2, 0.8]) == 1.0
    assert metrics.roc_auc([1, 0], [0.2, 0.8]) == 0.0
    assert np.isnan(metrics.roc_auc([1, 1], [0.2, 0.8]))  # undefined for one class


def test_sensitivity_specificity_at_threshold() -> None:
    sens, spec = metrics.sensitivity_specificity([1, 1, 1, 0, 0], [0.9, 0.5, 0.2, 0.5, 0.1], 0.5)
    assert sens == pytest.approx(2 / 3) and spec == pytest.approx(1 / 2)


def test_expected_calibration_error_by_hand() -> None:
    # 10 bins: 0.15 (labels 0,0 -> rate 0, |0-0.15|) and 0.95 (labels 1,0 -> rate 0.5, |0.5-0.95|)
    ece = metrics.expected_calibration_error([0, 0, 1, 0], [0.15, 0.15, 0.95, 0.95], n_bins=10)
    assert ece == pytest.approx(0.5 * 0.15 + 0.5 * 0.45)
    assert metrics.expected_calibration_error([1, 0], [1.0, 0.0]) == pytest.approx(0.0)


def _scores(logits: np.ndarray) -> Scores:
    return Scores(logits, metrics.sigmoid(logits), np.tile(logits[:, None, None], (1, 2, 2)),
                  np.zeros((len(logits), 3)))


def test_gate_passes_a_faithful_copy_and_refuses_a_degraded_one() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 200)
    logits = rng.normal(0, 1, 400) + 3 * (labels - 0.5)
    keras = _scores(logits)
    faithful = compare(labels, keras, _scores(logits + rng.normal(0, 0.01, 400)), 0.5, 1.0, "int8")
    assert faithful.passed and faithful.agreement >= 0.99
    assert faithful.max_abs_delta_probability < 0.01
    noisy = compare(labels, keras, _scores(logits + rng.normal(0, 1.5, 400)), 0.5, 1.0, "int8")
    assert not noisy.passed
    assert any("AUC dropped" in f for f in noisy.failures)
    assert any("agreement" in f for f in noisy.failures)
    assert "FAILED" in noisy.table() and "PASSED" in faithful.table()


def test_gate_refuses_a_single_class_validation_split() -> None:
    one = _scores(np.array([0.5, 1.0, 2.0]))
    with pytest.raises(ValueError, match="both classes"):
        compare(np.array([1, 1, 1]), one, one, 0.5, 1.0, "int8")
