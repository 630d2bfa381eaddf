"""Small, dependency-free classification metrics used by the conversion gate and the model card.

Kept here (NumPy only) so that the converter's verdict does not depend on which plotting or
evaluation helpers the training package happens to offer.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    z = np.asarray(z, np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count one half).

    Raises ``ValueError`` when only one class is present, because the AUC is then undefined.
    """
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"ROC AUC needs both classes; received {n_pos} positive and {n_neg} negative labels"
        )
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), np.float64)
    sorted_s = s[order]
    # Average ranks over ties.
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def sensitivity_specificity(labels: np.ndarray, probs: np.ndarray, threshold: float) -> tuple[float, float]:
    """Sensitivity and specificity of ``probs >= threshold`` (NaN for an absent class)."""
    y = np.asarray(labels).astype(bool).ravel()
    pred = np.asarray(probs, np.float64).ravel() >= threshold
    sens = float((pred & y).sum() / y.sum()) if y.any() else float("nan")
    spec = float((~pred & ~y).sum() / (~y).sum()) if (~y).any() else float("nan")
    return sens, spec


def reliability_bins(labels: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> list[dict[str, float]]:
    """Equal-width probability bins: count, mean confidence and observed positive rate."""
    y = np.asarray(labels, np.float64).ravel()
    p = np.asarray(probs, np.float64).ravel()
    idx = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        m = idx == b
        n = int(m.sum())
        bins.append({
            "lower": b / n_bins,
            "upper": (b + 1) / n_bins,
            "count": n,
            "mean_probability": float(p[m].mean()) if n else float("nan"),
            "positive_rate": float(y[m].mean()) if n else float("nan"),
        })
    return bins


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """ECE of P(positive): bin-weighted mean |observed rate - mean probability|, equal-width bins."""
    total = len(np.asarray(probs).ravel())
    if total == 0:
        raise ValueError("ECE needs at least one prediction")
    return float(sum(
        b["count"] / total * abs(b["positive_rate"] - b["mean_probability"])
        for b in reliability_bins(labels, probs, n_bins) if b["count"]
    ))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two arrays of the same size (1.0 when both are constant and equal)."""
    x = np.asarray(a, np.float64).ravel()
    y = np.asarray(b, np.float64).ravel()
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        return 1.0 if np.allclose(x, y) else 0.0
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))
