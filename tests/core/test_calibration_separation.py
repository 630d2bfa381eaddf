"""Logistic calibration on logits that separate the classes (an external set a small model
ranks perfectly): the plain maximum-likelihood fit has no finite optimum and wandered to an
offset the app refuses to load; the converter then fits Platt's prior-corrected targets."""

from __future__ import annotations

import numpy as np

from pneumonia_core.calibration import fit_logistic
from pneumonia_core.metadata_checks import MAX_OFFSET, SCALE_RANGE


def _separated() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.uniform(-8, -2.6, 50), rng.uniform(0.2, 4.8, 50)])
    return np.r_[np.zeros(50), np.ones(50)], z


def test_separated_logits_get_a_bounded_fit_with_prior_targets() -> None:
    y, z = _separated()
    a, b = fit_logistic(y, z, prior_targets=True)
    assert SCALE_RANGE[0] <= a <= SCALE_RANGE[1] and abs(b) <= MAX_OFFSET
    p = 1 / (1 + np.exp(-(a * z + b)))
    assert p[y == 0].max() < 0.5 < p[y == 1].min()  # still ranks and splits them
    plain_a, plain_b = fit_logistic(y, z)
    assert plain_a > 2 * a  # the plain fit runs away (the reason for the targets)


def test_prior_targets_change_little_where_the_classes_overlap() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    z = rng.normal(0, 1, 2000) + 2.0 * y - 1.0
    a, b = fit_logistic(y, z)
    pa, pb = fit_logistic(y, z, prior_targets=True)
    assert abs(pa - a) < 0.02 and abs(pb - b) < 0.02
