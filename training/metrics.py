"""Binary classification metrics, calibration and the threshold rule, in plain numpy.

Conventions: label 1 = PNEUMONIA (positive), 0 = NORMAL; ``probs`` are P(PNEUMONIA); a case is
predicted positive when ``prob >= threshold``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

REPORT_KEYS = ("accuracy", "sensitivity", "specificity", "precision", "npv", "f1", "roc_auc",
               "pr_auc", "brier", "ece", "threshold", "confusion_matrix")


def _arrays(labels: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(np.int64).ravel()
    p = np.asarray(probs, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels and probs differ in length: {y.shape} vs {p.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0/1, received values {sorted(set(y.tolist()))}")
    return y, p


def _safe_div(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def confusion(labels: Any, probs: Any, threshold: float) -> dict[str, int]:
    y, p = _arrays(labels, probs)
    pred = p >= threshold
    return {
        "tn": int(np.sum(~pred & (y == 0))),
        "fp": int(np.sum(pred & (y == 0))),
        "fn": int(np.sum(~pred & (y == 1))),
        "tp": int(np.sum(pred & (y == 1))),
    }


def roc_auc(labels: Any, probs: Any) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    y, p = _arrays(labels, probs)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(p.size, dtype=np.float64)
    sorted_p = p[order]
    i = 0
    while i < p.size:  # average ranks over ties
        j = i
        while j + 1 < p.size and sorted_p[j + 1] == sorted_p[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(labels: Any, probs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) for every distinct score, from (0,0) to (1,1)."""
    y, p = _arrays(labels, probs)
    thresholds = np.unique(p)[::-1]
    n_pos = max(int(y.sum()), 1)
    n_neg = max(int(y.size - y.sum()), 1)
    tpr = [0.0]
    fpr = [0.0]
    for t in thresholds:
        pred = p >= t
        tpr.append(float(np.sum(pred & (y == 1)) / n_pos))
        fpr.append(float(np.sum(pred & (y == 0)) / n_neg))
    return np.array(fpr), np.array(tpr), np.concatenate([[np.inf], thresholds])


def average_precision(labels: Any, probs: Any) -> float:
    """PR AUC as average precision: sum over positives of precision at their rank (ties grouped)."""
    y, p = _arrays(labels, probs)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    ap = 0.0
    prev_recall = 0.0
    for t in np.unique(p)[::-1]:
        pred = p >= t
        tp = float(np.sum(pred & (y == 1)))
        precision = tp / float(np.sum(pred))
        recall = tp / n_pos
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return float(ap)


def pr_curve(labels: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every distinct score, highest threshold first."""
    y, p = _arrays(labels, probs)
    n_pos = max(int(y.sum()), 1)
    recall, precision = [], []
    for t in np.unique(p)[::-1]:
        pred = p >= t
        tp = float(np.sum(pred & (y == 1)))
        recall.append(tp / n_pos)
        precision.append(tp / float(np.sum(pred)))
    return np.array(recall), np.array(precision)


def reliability_bins(labels: Any, probs: Any, n_bins: int = 15) -> list[dict[str, float]]:
    """Equal-width bins of P(positive): count, mean predicted probability, observed positive rate."""
    y, p = _arrays(labels, probs)
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
    y, _ = _arrays(labels, probs)
    if y.size == 0:
        return float("nan")
    total = 0.0
    for b in reliability_bins(labels, probs, n_bins):
        if b["count"]:
            total += b["count"] / y.size * abs(b["frequency"] - b["confidence"])
    return float(total)


def compute_metrics(labels: Any, probs: Any, threshold: float, n_bins: int = 15) -> dict[str, Any]:
    """All report metrics for one split; keys are :data:`REPORT_KEYS` plus ``n``, ``n_positive``.

    Ratios with an empty denominator are NaN (written as null in JSON).
    """
    y, p = _arrays(labels, probs)
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
        "threshold": float(threshold),
        "confusion_matrix": cm,
        "n": int(y.size),
        "n_positive": int(y.sum()),
    }


def sigmoid(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def _nll(labels: np.ndarray, logits: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    # log(1 + exp(-|z|)) + max(z, 0) - y z  (stable binary cross-entropy on logits)
    return float(np.mean(np.logaddexp(0.0, z) - labels * z))


def fit_temperature(labels: Any, logits: Any, lo: float = 0.05, hi: float = 20.0) -> float:
    """Temperature T > 0 minimising the validation NLL of sigmoid(logit / T).

    Golden-section search on log T (the NLL is unimodal in T for a fixed set of logits).
    """
    y, z = _arrays(labels, logits)
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


THRESHOLD_RULE = ("highest specificity with sensitivity >= target on the calibrated validation "
                  "probabilities; the threshold sits halfway between the lowest positive score it "
                  "must keep and the next lower score")


def choose_threshold(labels: Any, probs: Any, target_sensitivity: float = 0.98) -> dict[str, Any]:
    """The threshold rule: highest specificity among thresholds with sensitivity >= target.

    Raising the threshold can only raise specificity and lower sensitivity, so the rule keeps
    the smallest number of positives that meets the target: k = ceil(target * n_pos) positives
    must score >= threshold. Any threshold between the k-th highest positive score and the next
    lower score (of either class) gives the same validation numbers; the midpoint is used so
    small numeric drift (e.g. int8 quantization) does not flip the deciding case.
    """
    y, p = _arrays(labels, probs)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("cannot choose a threshold without positive cases")
    k = max(1, math.ceil(target_sensitivity * n_pos - 1e-9))
    pos_scores = np.sort(p[y == 1])[::-1]
    kth = float(pos_scores[k - 1])
    lower = p[p < kth]
    value = (kth + float(lower.max())) / 2.0 if lower.size else kth
    m = compute_metrics(y, p, value)
    return {
        "value": value,
        "rule": THRESHOLD_RULE,
        "target_sensitivity": float(target_sensitivity),
        "sensitivity": m["sensitivity"],
        "specificity": m["specificity"],
    }


def exact_interval(successes: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact binomial) confidence interval of successes / total."""
    from scipy.stats import beta

    if total <= 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo = 0.0 if successes == 0 else float(beta.ppf(a, successes, total - successes + 1))
    hi = 1.0 if successes == total else float(beta.ppf(1 - a, successes + 1, total - successes))
    return lo, hi


def bootstrap_auc_interval(labels: Any, probs: Any, n_boot: int = 2000, seed: int = 0,
                           level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the ROC AUC, resampling each class separately."""
    y, p = _arrays(labels, probs)
    pos, neg = p[y == 1], p[y == 0]
    if pos.size == 0 or neg.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    aucs = np.empty(n_boot)
    for i in range(n_boot):
        pb = rng.choice(pos, pos.size)
        nb = rng.choice(neg, neg.size)
        aucs[i] = roc_auc(np.r_[np.ones(pb.size), np.zeros(nb.size)], np.r_[pb, nb])
    a = (1 - level) / 2
    return float(np.quantile(aucs, a)), float(np.quantile(aucs, 1 - a))


def metrics_with_intervals(labels: Any, probs: Any, threshold: float, n_bins: int = 15,
                           n_boot: int = 2000) -> dict[str, Any]:
    """:func:`compute_metrics` plus 95% intervals: exact for sensitivity and specificity,
    bootstrap for the ROC AUC (keys ``*_ci`` = [low, high])."""
    m = compute_metrics(labels, probs, threshold, n_bins)
    cm = m["confusion_matrix"]
    m["sensitivity_ci"] = list(exact_interval(cm["tp"], cm["tp"] + cm["fn"]))
    m["specificity_ci"] = list(exact_interval(cm["tn"], cm["tn"] + cm["fp"]))
    m["roc_auc_ci"] = list(bootstrap_auc_interval(labels, probs, n_boot))
    return m
