"""The reliability diagram of the converted model, before and after temperature scaling."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pneumonia_core import metrics
from pneumonia_core.decision import calibrated


def plot_reliability(labels: np.ndarray, logits: np.ndarray, temperature: float, path: Path,
                     title: str) -> Path:
    """Write a small PNG: observed PNEUMONIA rate against mean predicted probability per bin,
    for sigmoid(logit) and sigmoid(logit / T), with each curve's ECE in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect calibration")
    for name, t, style in (("before", 1.0, "o-"), (f"after (T={temperature:.2f})", temperature, "s-")):
        probs = calibrated(logits, 1.0 / t)
        bins = [b for b in metrics.reliability_bins(labels, probs) if b["count"]]
        ece = metrics.expected_calibration_error(labels, probs)
        ax.plot([b["confidence"] for b in bins], [b["frequency"] for b in bins], style,
                ms=4, label=f"{name}: ECE {ece:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted P(PNEUMONIA)")
    ax.set_ylabel("observed PNEUMONIA rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
