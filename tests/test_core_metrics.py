"""Confidence intervals and the report summary of pneumonia_core.metrics, against values
computed once with scipy (beta.ppf) and by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pneumonia_core import metrics
from pneumonia_core.decision import OperatingPoint

# Clopper-Pearson 95 %: 0/n upper = 1 - 0.025**(1/n); n/n lower = 0.025**(1/n);
# 5/10 from scipy.stats.beta.ppf(0.025, 5, 6), beta.ppf(0.975, 6, 5).
CP = {
    (0, 10): (0.0, 0.308497),
    (5, 10): (0.187086, 0.812914),
    (10, 10): (0.691503, 1.0),
    (97, 100): (0.914824, 0.993770),
    (1, 314): (0.0000806, 0.0176155),
}


@pytest.mark.parametrize("x, n", sorted(CP))
def test_clopper_pearson_matches_reference_values(x, n) -> None:
    lo, hi = metrics.clopper_pearson(x, n)
    assert lo == pytest.approx(CP[x, n][0], abs=2e-6)
    assert hi == pytest.approx(CP[x, n][1], abs=2e-6)


def test_clopper_pearson_edges() -> None:
    assert all(np.isnan(metrics.clopper_pearson(0, 0)))
    with pytest.raises(ValueError):
        metrics.clopper_pearson(3, 2)


def test_bootstrap_auc_interval_is_seeded_and_brackets_the_auc() -> None:
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 60)
    p = np.clip(rng.normal(0.4, 0.2, 120) + 0.25 * y, 0, 1)
    auc = metrics.roc_auc(y, p)
    lo, hi = metrics.bootstrap_auc_interval(y, p, n_boot=500, seed=7)
    assert lo < auc < hi and hi - lo < 0.3
    assert (lo, hi) == metrics.bootstrap_auc_interval(y, p, n_boot=500, seed=7)
    assert (lo, hi) != metrics.bootstrap_auc_interval(y, p, n_boot=500, seed=8)
    assert all(np.isnan(metrics.bootstrap_auc_interval([1, 1], [0.2, 0.3])))


def test_roc_auc_counts_ties_half_like_pairwise_counting() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.random(200), 1)  # many ties
    pos, neg = p[y == 1], p[y == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert metrics.roc_auc(y, p) == pytest.approx(pairs / (pos.size * neg.size))


def test_summary_counts_intervals_and_both_ece_bin_counts() -> None:
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    p = [0.9, 0.8, 0.6, 0.3, 0.7, 0.2, 0.2, 0.1, 0.1, 0.05]
    s = metrics.classification_summary(y, p, OperatingPoint(0.5), n_boot=200)
    assert (s["tp"], s["fn"], s["tn"], s["fp"]) == (3, 1, 5, 1)
    assert s["sensitivity"]["value"] == pytest.approx(0.75)
    assert (s["sensitivity"]["ci_low"], s["sensitivity"]["ci_high"]) == pytest.approx(
        metrics.clopper_pearson(3, 4))
    assert s["specificity"]["value"] == pytest.approx(5 / 6)
    assert s["roc_auc"]["value"] == pytest.approx(metrics.roc_auc(y, p))
    assert s["ece_10"] == pytest.approx(metrics.expected_calibration_error(y, p, 10))
    assert s["ece_15"] == pytest.approx(metrics.expected_calibration_error(y, p, 15))
    assert s["brier"] == pytest.approx(np.mean((np.array(p) - np.array(y)) ** 2))
    assert (s["n"], s["n_positive"], s["n_negative"], s["threshold"]) == (10, 4, 6, 0.5)


def test_reliability_bins_have_one_set_of_edges_and_keys() -> None:
    bins = metrics.reliability_bins([0, 1, 1], [0.1, 0.1000001, 1.0], n_bins=10)
    assert [b["count"] for b in bins][:2] == [1, 1]  # bin b holds lo < p <= hi
    assert set(bins[0]) == {"lo", "hi", "count", "confidence", "frequency"}
