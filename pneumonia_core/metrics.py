"""THE metrics module: binary classification metrics, calibration error and confidence
intervals, in plain numpy + math (no TensorFlow, no Qt, no scipy). The calibration fitters and
the threshold rule live in :mod:`pneumonia_core.calibration`.

Used by training, the converter's gate and model card, the benchmark and the tests, so every
number in a report is computed one way. Conventions: label 1 = the positive class (PNEUMONIA),
0 = negative; ``probs`` are calibrated P(positive); a case is predicted positive by
:func:`pneumonia_core.decision.at_or_above` (``prob >= threshold``). ``threshold`` arguments
accept a number or an :class:`~pneumonia_core.decision.OperatingPoint`.

Reliability bins are equal-width with edges ``linspace(0, 1, n_bins + 1)``; bin ``b`` holds
``edges[b] < p <= edges[b + 1]`` (and p = 0 in the first). Keys: ``lo``, ``hi``, ``count``,
``confidence`` (mean predicted probability), ``frequency`` (observed positive rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pneumonia_core.decision import OperatingPoint, at_or_above, sigmoid

__all__ = [
    "REPORT_KEYS", "average_precision", "bootstrap_auc_interval",
    "clopper_pearson", "classification_summary", "compute_metrics",
    "confusion", "expected_calibration_error", "log_loss", "pearson", "pr_curve",
    "reliability_bins", "roc_auc", "roc_curve", "sensitivity_specificity", "sigmoid",
]

REPORT_KEYS = ("accuracy", "sensitivity", "specificity", "precision", "npv", "f1", "roc_auc",
               "pr_auc", "brier", "ece", "threshold", "confusion_matrix")


def as_label_arrays(labels: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels (0/1 int64) and scores (float64) as flat arrays of one length, checked."""
    y = np.asarray(labels).astype(np.int64).ravel()
    p = np.asarray(probs, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels and probs differ in length: {y.shape} vs {p.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0/1, received values {sorted(set(y.tolist()))}")
    return y, p


def _safe_div(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def _threshold(threshold: float | OperatingPoint) -> float:
    return threshold.threshold if isinstance(threshold, OperatingPoint) else float(threshold)


def confusion(labels: Any, probs: Any, threshold: float | OperatingPoint) -> dict[str, int]:
    y, p = as_label_arrays(labels, probs)
    pred = at_or_above(p, _threshold(threshold))
    return {
        "tn": int(np.sum(~pred & (y == 0))),
        "fp": int(np.sum(pred & (y == 0))),
        "fn": int(np.sum(~pred & (y == 1))),
        "tp": int(np.sum(pred & (y == 1))),
    }


def _average_ranks(p: np.ndarray) -> np.ndarray:
    """1-based ranks of ``p`` with ties sharing their average rank."""
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    before = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (before + (counts + 1) / 2.0)[inverse.ravel()]


def roc_auc(labels: Any, probs: Any) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties count one half); NaN for one class."""
    y, p = as_label_arrays(labels, probs)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    u = _average_ranks(p)[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(labels: Any, probs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) for every distinct score, from (0,0) to (1,1)."""
    y, p = as_label_arrays(labels, probs)
    thresholds = np.unique(p)[::-1]
    n_pos = max(int(y.sum()), 1)
    n_neg = max(int(y.size - y.sum()), 1)
    tpr = [0.0]
    fpr = [0.0]
    for t in thresholds:
        pred = at_or_above(p, t)
        tpr.append(float(np.sum(pred & (y == 1)) / n_pos))
        fpr.append(float(np.sum(pred & (y == 0)) / n_neg))
    return np.array(fpr), np.array(tpr), np.concatenate([[np.inf], thresholds])


def average_precision(labels: Any, probs: Any) -> float:
    """PR AUC as average precision: sum over positives of precision at their rank (ties grouped)."""
    y, p = as_label_arrays(labels, probs)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    ap = 0.0
    prev_recall = 0.0
    for t in np.unique(p)[::-1]:
        pred = at_or_above(p, t)
        tp = float(np.sum(pred & (y == 1)))
        precision = tp / float(np.sum(pred))
        recall = tp / n_pos
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return float(ap)


def pr_curve(labels: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every distinct score, highest threshold first."""
    y, p = as_label_arrays(labels, probs)
    n_pos = max(int(y.sum()), 1)
    recall, precision = [], []
    for t in np.unique(p)[::-1]:
        pred = at_or_above(p, t)
        tp = float(np.sum(pred & (y == 1)))
        recall.append(tp / n_pos)
        precision.append(tp / float(np.sum(pred)))
    return np.array(recall), np.array(precision)


def reliability_bins(labels: Any, probs: Any, n_bins: int = 15) -> list[dict[str, float]]:
    """Equal-width bins of P(positive): count, mean predicted probability, observed positive rate."""
    y, p = as_label_arrays(labels, probs)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=True), 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        m = idx == b
        n = int(m.sum())
        bins.append({
            "lo": float(edges[b]), "hi": float(edges[b + 1]), "count": n,
            "confidence": float(p[m].mean()) if n else float("nan"),
            "frequency": float(y[m].mean()) if n else float("nan"),
        })
    return bins


def expected_calibration_error(labels: Any, probs: Any, n_bins: int = 15) -> float:
    """ECE of P(positive): sum over equal-width bins of (n_b / N) * |positive rate - mean prob|."""
    y, _ = as_label_arrays(labels, probs)
    if y.size == 0:
        return float("nan")
    total = 0.0
    for b in reliability_bins(labels, probs, n_bins):
        if b["count"]:
            total += b["count"] / y.size * abs(b["frequency"] - b["confidence"])
    return float(total)


def compute_metrics(labels: Any, probs: Any, threshold: float | OperatingPoint,
                    n_bins: int = 15) -> dict[str, Any]:
    """All report metrics for one split; keys are :data:`REPORT_KEYS` plus ``n``, ``n_positive``.

    Ratios with an empty denominator are NaN (written as null in JSON).
    """
    y, p = as_label_arrays(labels, probs)
    cm = confusion(y, p, threshold)
    tn, fp, fn, tp = cm["tn"], cm["fp"], cm["fn"], cm["tp"]
    sens = _safe_div(tp, tp + fn)
    prec = _safe_div(tp, tp + fp)
    f1 = _safe_div(2 * prec * sens, prec + sens) if not (math.isnan(prec) or math.isnan(sens)) \
        else float("nan")
    return {
        "accuracy": _safe_div(tp + tn, y.size),
        "sensitivity": sens,
        "specificity": _safe_div(tn, tn + fp),
        "precision": prec,
        "npv": _safe_div(tn, tn + fn),
        "f1": f1,
        "roc_auc": roc_auc(y, p),
        "pr_auc": average_precision(y, p),
        "brier": float(np.mean((p - y) ** 2)) if y.size else float("nan"),
        "ece": expected_calibration_error(y, p, n_bins),
        "threshold": _threshold(threshold),
        "confusion_matrix": cm,
        "n": int(y.size),
        "n_positive": int(y.sum()),
    }


def log_loss(labels: Any, probs: Any) -> float:
    """Mean binary cross-entropy of ``probs`` (clipped to [1e-15, 1 - 1e-15])."""
    y, p = as_label_arrays(labels, probs)
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def sensitivity_specificity(labels: Any, probs: Any, threshold: float | OperatingPoint
                            ) -> tuple[float, float]:
    """Sensitivity and specificity of the decision at ``threshold`` (NaN for an absent class)."""
    cm = confusion(labels, probs, threshold)
    return (_safe_div(cm["tp"], cm["tp"] + cm["fn"]), _safe_div(cm["tn"], cm["tn"] + cm["fp"]))


def pearson(a: Any, b: Any) -> float:
    """Pearson correlation of two arrays of the same size (1.0 when both are constant and equal)."""
    x = np.asarray(a, np.float64).ravel()
    y = np.asarray(b, np.float64).ravel()
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        return 1.0 if np.allclose(x, y) else 0.0
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))


# -- confidence intervals ----------------------------------------------------------------------
def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), 0 < p < 1, summed in log space (lgamma)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    i = np.arange(k + 1, dtype=np.float64)
    log_choose = (math.lgamma(n + 1) - np.array([math.lgamma(v + 1) for v in i])
                  - np.array([math.lgamma(n - v + 1) for v in i]))
    terms = log_choose + i * math.log(p) + (n - i) * math.log1p(-p)
    top = float(terms.max())
    return float(min(1.0, math.exp(top) * np.exp(terms - top).sum()))


def _bisect_decreasing(f: Any, target: float) -> float:
    """The p in (0, 1) where the decreasing function ``f(p)`` equals ``target``."""
    lo, hi = 0.0, 1.0
    for _ in range(60):  # 2**-60: far below any reported digit
        mid = (lo + hi) / 2.0
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval for a binomial proportion ``successes / n``.

    Lower bound: the p where P(X >= x) = alpha / 2 (0 when x = 0); upper bound: the p where
    P(X <= x) = alpha / 2 (1 when x = n). (NaN, NaN) when n = 0.
    """
    x, n = int(successes), int(n)
    if n < 0 or not 0 <= x <= n:
        raise ValueError(f"need 0 <= successes <= n; received {x} of {n}")
    if n == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    lower = 0.0 if x == 0 else _bisect_decreasing(
        lambda p: _binom_cdf(x - 1, n, p), 1.0 - alpha / 2.0)  # P(X >= x) = 1 - cdf(x-1)
    upper = 1.0 if x == n else _bisect_decreasing(lambda p: _binom_cdf(x, n, p), alpha / 2.0)
    return float(lower), float(upper)


def seeded_uint64(seed: int, n: int, start: int = 0) -> np.ndarray:
    """Numbers ``start .. start + n - 1`` of a reproducible stream of pseudo-random 64-bit
    integers (SplitMix64, Steele, Lea & Flood 2014) in plain numpy array arithmetic (wrapping):
    the app bundle ships without ``numpy.random`` (build.spec), and bootstrap intervals and
    cross-validation folds are computed there too (``pneumonia-xray calibrate``). Modulo a
    small range, the bias is below 2**-50."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    x = (np.arange(start + 1, start + n + 1, dtype=np.uint64) * golden
         + np.uint64(int(seed) % (1 << 64)))
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def bootstrap_auc_interval(labels: Any, probs: Any, n_boot: int = 2000, seed: int = 0,
                           confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the ROC AUC, resampling positives and negatives
    separately (stratified, so every resample has both classes); seeded, so reproducible.
    (NaN, NaN) when a class is absent."""
    y, p = as_label_arrays(labels, probs)
    pos, neg = p[y == 1], p[y == 0]
    if pos.size == 0 or neg.size == 0:
        return float("nan"), float("nan")
    yb = np.concatenate([np.ones(pos.size, np.int64), np.zeros(neg.size, np.int64)])
    n = pos.size + neg.size
    aucs = np.empty(n_boot)
    for b in range(n_boot):
        draws = seeded_uint64(seed, n, start=b * n)
        idx_pos = (draws[:pos.size] % np.uint64(pos.size)).astype(np.int64)
        idx_neg = (draws[pos.size:] % np.uint64(neg.size)).astype(np.int64)
        aucs[b] = roc_auc(yb, np.concatenate([pos[idx_pos], neg[idx_neg]]))
    alpha = 1.0 - confidence
    lo, hi = np.quantile(aucs, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _with_interval(value: float, interval: tuple[float, float]) -> dict[str, float]:
    return {"value": value, "ci_low": interval[0], "ci_high": interval[1]}


def classification_summary(labels: Any, probs: Any, threshold: float | OperatingPoint,
                           ece_bins: Sequence[int] = (10, 15), n_boot: int = 2000,
                           seed: int = 0) -> dict[str, Any]:
    """The numbers a report needs at one operating point, with 95 % intervals.

    ``sensitivity`` / ``specificity``: ``{"value", "ci_low", "ci_high"}`` with exact
    (Clopper-Pearson) intervals; ``roc_auc`` likewise with a seeded stratified bootstrap;
    ``ece_<n>`` for every ``n`` in ``ece_bins``; ``brier``; ``threshold``; ``n``,
    ``n_positive``, ``n_negative`` and the confusion counts ``tp``, ``fn``, ``tn``, ``fp``.
    """
    y, p = as_label_arrays(labels, probs)
    cm = confusion(y, p, threshold)
    tp, fn, tn, fp = cm["tp"], cm["fn"], cm["tn"], cm["fp"]
    out: dict[str, Any] = {
        "threshold": _threshold(threshold),
        "n": int(y.size), "n_positive": int(y.sum()), "n_negative": int(y.size - y.sum()),
        "tp": tp, "fn": fn, "tn": tn, "fp": fp,
        "sensitivity": _with_interval(_safe_div(tp, tp + fn), clopper_pearson(tp, tp + fn)),
        "specificity": _with_interval(_safe_div(tn, tn + fp), clopper_pearson(tn, tn + fp)),
        "roc_auc": _with_interval(roc_auc(y, p), bootstrap_auc_interval(y, p, n_boot, seed)),
        "brier": float(np.mean((p - y) ** 2)) if y.size else float("nan"),
    }
    for n_bins in ece_bins:
        out[f"ece_{n_bins}"] = expected_calibration_error(y, p, n_bins)
    return out
