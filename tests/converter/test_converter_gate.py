"""The converter's gate (converter.validation.compare) on hand-made scores: no TensorFlow."""

from __future__ import annotations

import numpy as np

from converter.validation import AGREEMENT_BAND, MIN_AGREEMENT, Scores, compare
from pneumonia_core.metrics import sigmoid


def _scores(logits: np.ndarray) -> Scores:
    logits = np.asarray(logits, np.float64)
    return Scores(logits, sigmoid(logits), None, np.zeros((logits.size, 1)))


def _weak_model(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Labels, Keras logits and a low threshold in a dense score region (like a 3-epoch run)."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 4 != 0).astype(np.int64)
    z = np.where(y == 1, rng.normal(0.5, 1.5, n), rng.normal(-3.0, 1.5, n))
    return y, z, float(sigmoid(-2.5))


def test_borderline_flips_are_reported_not_refused() -> None:
    y, z, thr = _weak_model()
    z_thr = np.log(thr / (1 - thr))
    near = np.flatnonzero(np.abs(z - z_thr) < AGREEMENT_BAND / 2)
    assert near.size >= 5
    moved = z.copy()
    moved[near] = 2 * z_thr - z[near]  # mirror across the threshold: every one of them flips
    report = compare(y, _scores(z), _scores(moved), thr, 1.0, "int8")
    assert report.agreement < MIN_AGREEMENT  # the old all-images gate would have refused it
    assert report.borderline_flips == near.size
    assert report.agreement_outside_band == 1.0 and report.passed, report.failures
    assert report.distinct_probabilities == np.unique(moved).size
    assert "borderline flips" in report.table()


def test_flips_far_from_the_threshold_are_refused() -> None:
    y, z, thr = _weak_model()
    z_thr = np.log(thr / (1 - thr))
    far = np.flatnonzero(np.abs(z - z_thr) > 2 * AGREEMENT_BAND)[:5]
    moved = z.copy()
    moved[far] = 2 * z_thr - z[far]
    report = compare(y, _scores(z), _scores(moved), thr, 1.0, "int8")
    assert not report.passed
    assert report.agreement_outside_band < MIN_AGREEMENT
    assert any("outside" in f for f in report.failures)


def test_widened_threshold_keeps_specificity_and_gains_sensitivity() -> None:
    from pneumonia_core.calibration import widen_threshold

    y = np.array([0, 0, 0, 1, 1, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.9])
    t0 = 0.47  # keeps 0.6 and 0.9 (and the NORMAL 0.5 above); misses 0.35, 0.4, 0.45
    t = widen_threshold(y, p, t0)
    assert t == (0.3 + 0.35) / 2  # just above the highest NORMAL below t0
    assert np.mean(p[y == 0] < t) == np.mean(p[y == 0] < t0)
    assert np.mean(p[y == 1] >= t) == 1.0 > np.mean(p[y == 1] >= t0)
    assert widen_threshold(y, p, 0.05) == 0.05  # no NORMAL below: unchanged
