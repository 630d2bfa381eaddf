"""PNG plots of a run: learning curves, ROC, confusion matrix, reliability diagram."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from pneumonia_core.metrics import reliability_bins, roc_curve  # noqa: E402

log = logging.getLogger(__name__)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def learning_curves(history: list[dict[str, float]], path: Path, best_epoch: int | None = None) -> Path:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ep = [r["epoch"] for r in history]
    ax1.plot(ep, [r["loss"] for r in history], "o-", label="train loss (class-weighted, augmented)")
    ax1.plot(ep, [r["val_loss"] for r in history], "s-", label="validation loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("binary cross-entropy")
    ax1.set_title("Loss")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    ax2.plot(ep, [r["val_roc_auc"] for r in history], "o-", color="tab:green")
    if best_epoch:
        ax2.axvline(best_epoch, color="grey", ls="--", label=f"selected epoch {best_epoch}")
        ax2.legend(fontsize=8)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("ROC AUC")
    ax2.set_title("Validation ROC AUC (selection metric)")
    ax2.grid(alpha=0.3)
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def roc_plot(labels: np.ndarray, probs: np.ndarray, path: Path, auc: float,
             op_point: tuple[float, float] | None = None, title: str = "ROC") -> Path:
    fpr, tpr, _ = roc_curve(labels, probs)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, lw=2, label=f"ROC AUC = {auc:.4f}")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="chance")
    if op_point is not None:
        sens, spec = op_point
        ax.plot([1 - spec], [sens], "o", color="tab:red",
                label=f"threshold: sens {sens:.3f}, spec {spec:.3f}")
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def confusion_plot(cm: dict[str, int], path: Path, title: str = "Confusion matrix") -> Path:
    mat = np.array([[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]])
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(mat, cmap="Blues")
    for (i, j), v in np.ndenumerate(mat):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=14,
                color="white" if v > mat.max() / 2 else "black")
    ax.set_xticks([0, 1], ["NORMAL", "PNEUMONIA"])
    ax.set_yticks([0, 1], ["NORMAL", "PNEUMONIA"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def reliability_plot(labels: np.ndarray, probs: np.ndarray, path: Path, ece: float,
                     n_bins: int = 15, raw_probs: np.ndarray | None = None,
                     title: str = "Reliability diagram") -> Path:
    """Observed positive rate per probability bin (marker area ~ images in the bin), with the
    bin counts underneath: sparse middle bins are noisy, and the counts show it."""
    fig, (ax, axh) = plt.subplots(2, 1, figsize=(5, 6.2), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfect calibration")
    series = [(probs, f"calibrated (ECE {ece:.3f})", "tab:blue")]
    if raw_probs is not None:
        series.append((raw_probs, "before temperature scaling", "tab:orange"))
    for p, label, color in series:
        bins = [b for b in reliability_bins(labels, p, n_bins) if b["count"]]
        conf = [b["confidence"] for b in bins]
        ax.plot(conf, [b["frequency"] for b in bins], "-", color=color, alpha=0.6, label=label)
        ax.scatter(conf, [b["frequency"] for b in bins], s=[8 + 4 * np.sqrt(b["count"]) ** 1.5
                                                            for b in bins], color=color, zorder=3)
    ax.set_ylabel("observed fraction PNEUMONIA")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    edges = np.linspace(0, 1, n_bins + 1)
    axh.hist(np.asarray(probs, dtype=float), bins=edges, color="tab:blue", alpha=0.7)
    axh.set_yscale("log")
    axh.set_ylabel("images")
    axh.set_xlabel("predicted P(PNEUMONIA)")
    axh.grid(alpha=0.3)
    return _save(fig, path)
