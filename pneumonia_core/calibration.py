"""THE calibration module: the one fitter of ``P = sigmoid(scale * logit + offset)`` and the one
threshold rule, with its default target written once.

- :func:`fit_calibration` fits temperature scaling (``offset = 0``, ``scale = 1 / T``) or a
  logistic (Platt) calibration (scale and offset) by maximum likelihood on raw logits; training,
  the converter's external fit and the site profile all call it.
- :func:`choose_threshold` is the one threshold rule: the highest specificity whose sensitivity
  meets the target (default :data:`DEFAULT_TARGET_SENSITIVITY`), optionally widened down to the
  highest negative score below it (:func:`widen_threshold`; same specificity, sensitivity can only
  rise).
- Every probability is computed by :class:`pneumonia_core.decision.OperatingPoint`
  (:func:`pneumonia_core.decision.calibrated` for a calibration without a threshold yet).

Plain numpy + math: no Qt, no TensorFlow, no scipy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pneumonia_core.decision import calibrated
from pneumonia_core.metrics import as_label_arrays, compute_metrics

__all__ = [
    "DEFAULT_TARGET_SENSITIVITY", "METHODS", "THRESHOLD_RULE", "choose_threshold",
    "fit_calibration", "fit_logistic", "fit_temperature", "widen_threshold",
]

#: The sensitivity the threshold rule aims for when nothing else says so (training config,
#: converter, ``calibrate``): ONE place.
DEFAULT_TARGET_SENSITIVITY = 0.98
#: The calibration families :func:`fit_calibration` knows.
METHODS = ("temperature", "logistic")

THRESHOLD_RULE = ("highest specificity with sensitivity >= target on the calibrated validation "
                  "probabilities; the threshold sits halfway between the lowest positive score it "
                  "must keep and the next lower score")


# -- the fitters -------------------------------------------------------------------------------
def _nll(labels: np.ndarray, logits: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    # log(1 + exp(-|z|)) + max(z, 0) - y z  (stable binary cross-entropy on logits)
    return float(np.mean(np.logaddexp(0.0, z) - labels * z))


def fit_temperature(labels: Any, logits: Any, lo: float = 0.05, hi: float = 20.0) -> float:
    """Temperature T > 0 minimising the NLL of sigmoid(logit / T).

    Golden-section search on log T (the NLL is unimodal in T for a fixed set of logits).
    """
    y, z = as_label_arrays(labels, logits)
    if y.size == 0:
        return 1.0
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = _nll(y, z, math.exp(c)), _nll(y, z, math.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = _nll(y, z, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = _nll(y, z, math.exp(d))
    return float(math.exp((a + b) / 2))


def _logistic_nll(scale: float, offset: float, z: np.ndarray, y: np.ndarray) -> float:
    s = scale * z + offset
    return float(np.mean(np.logaddexp(0.0, s) - y * s))


def fit_logistic(labels: Any, logits: Any, with_offset: bool = True,
                 prior_targets: bool = False) -> tuple[float, float]:
    """Maximum-likelihood ``(scale, offset)`` of ``P = sigmoid(scale * logit + offset)``
    (``offset`` fixed at 0 when ``with_offset`` is False). Damped Newton from (1, 0); never
    diverges (each step must lower the log loss). With ``prior_targets`` the 0/1 labels are
    replaced by Platt's (1999) targets ``1 / (N0 + 2)`` and ``(N1 + 1) / (N1 + 2)``: the fit
    then stays finite when the logits separate the classes (where the plain one has none)."""
    y_int, z = as_label_arrays(labels, logits)
    y = y_int.astype(np.float64)
    if prior_targets:
        n1 = float(y.sum())
        y = np.where(y_int == 1, (n1 + 1) / (n1 + 2), 1.0 / (y.size - n1 + 2))
    a, b = 1.0, 0.0
    f = _logistic_nll(a, b, z, y)
    for _ in range(200):
        p = calibrated(z, a, b)
        w = p * (1 - p)
        g = np.array([np.mean((p - y) * z), np.mean(p - y)])
        h = np.array([[np.mean(w * z * z), np.mean(w * z)], [np.mean(w * z), np.mean(w)]])
        h += 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g) if with_offset else np.array([g[0] / h[0, 0], 0.0])
        t = 1.0
        while t > 1e-10:
            fa, fb = a - t * step[0], b - t * step[1]
            fn = _logistic_nll(fa, fb, z, y)
            if fn <= f:
                break
            t /= 2
        else:
            break
        a, b = fa, fb
        if f - fn < 1e-13:
            break
        f = fn
    return float(a), float(b)


def fit_calibration(labels: Any, logits: Any, method: str) -> tuple[float, float]:
    """``(scale, offset)`` of the named calibration fitted on raw logits (labels 1 = positive):
    ``"temperature"`` (offset 0, scale 1/T) or ``"logistic"`` (both)."""
    if method == "temperature":
        return 1.0 / fit_temperature(labels, logits), 0.0
    if method == "logistic":
        return fit_logistic(labels, logits, with_offset=True)
    raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")


# -- the threshold rule --------------------------------------------------------------------------
def widen_threshold(labels: Any, probs: Any, threshold: float) -> float:
    """The lowest threshold with the same specificity as ``threshold``: halfway between the
    highest negative score below it and the next higher score. Sensitivity can only rise."""
    y = np.asarray(labels).ravel()
    p = np.asarray(probs, np.float64).ravel()
    below = p[(y == 0) & (p < threshold)]
    if below.size == 0:
        return float(threshold)
    top = float(below.max())
    above = p[p > top]
    return (top + float(above.min())) / 2.0 if above.size else float(threshold)


def choose_threshold(labels: Any, probs: Any,
                     target_sensitivity: float = DEFAULT_TARGET_SENSITIVITY,
                     widen: bool = False) -> dict[str, Any]:
    """THE threshold rule: highest specificity among thresholds with sensitivity >= target.

    Raising the threshold can only raise specificity and lower sensitivity, so the rule keeps
    the smallest number of positives that meets the target: k = ceil(target * n_pos) positives
    must score >= threshold. Any threshold between the k-th highest positive score and the next
    lower score (of either class) gives the same numbers; the midpoint is used so small numeric
    drift (e.g. int8 quantization) does not flip the deciding case. ``widen`` then lowers it to
    just above the highest negative score below it (:func:`widen_threshold`).

    Returns ``{"value", "rule", "target_sensitivity", "sensitivity", "specificity"}``.
    """
    y, p = as_label_arrays(labels, probs)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("cannot choose a threshold without positive cases")
    if not 0.0 < float(target_sensitivity) <= 1.0:
        raise ValueError(f"target sensitivity must lie in (0, 1]; received {target_sensitivity}")
    k = max(1, math.ceil(target_sensitivity * n_pos - 1e-9))
    pos_scores = np.sort(p[y == 1])[::-1]
    kth = float(pos_scores[k - 1])
    lower = p[p < kth]
    value = (kth + float(lower.max())) / 2.0 if lower.size else kth
    if widen:
        value = widen_threshold(y, p, value)
    m = compute_metrics(y, p, value)
    return {
        "value": value,
        "rule": THRESHOLD_RULE,
        "target_sensitivity": float(target_sensitivity),
        "sensitivity": m["sensitivity"],
        "specificity": m["specificity"],
    }
