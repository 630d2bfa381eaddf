"""Accuracy cost of quantization: float Keras model vs shipped int8 ``.tflite`` on the run's
validation split (patient-grouped, never trained on), each at its own calibrated threshold.

Float: the run's ``model.keras``, calibrated with the run's temperature, at the run's threshold.
Int8: the shipped model folder through :class:`pneumonia_core.model.ModelBundle` (calibration
and threshold from its ``metadata.json``), i.e. exactly what the app reports.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from converter import metrics

log = logging.getLogger(__name__)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (:func:`converter.metrics.roc_auc`: Mann-Whitney U with ties
    counted half); NaN, not an error, when only one class is present."""
    y = np.asarray(labels).astype(bool).ravel()
    if y.all() or not y.any():
        return float("nan")
    return metrics.roc_auc(y, scores)


def operating_point(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, float]:
    y = np.asarray(labels).astype(bool)
    pred = np.asarray(probs) >= threshold
    tp = int(np.sum(pred & y))
    fn = int(np.sum(~pred & y))
    tn = int(np.sum(~pred & ~y))
    fp = int(np.sum(pred & ~y))
    return {
        "threshold": round(float(threshold), 6),
        "sensitivity": round(tp / (tp + fn), 4) if tp + fn else float("nan"),
        "specificity": round(tn / (tn + fp), 4) if tn + fp else float("nan"),
        "tp": tp, "fn": fn, "tn": tn, "fp": fp,
    }


def bench_accuracy(run_dir: Path | None, model_dir: Path, limit: int | None = None) -> dict[str, Any]:
    if run_dir is None:
        return {"status": "needs --run-dir"}
    from pneumonia_core.imageio import load_image
    from pneumonia_core.model import ModelBundle
    from training.run import load_run

    run = load_run(run_dir)
    val = run.split["val"]
    if limit:
        val = val[:limit]
    if not val:
        return {"status": f"{run_dir}/split.json has no validation entries"}
    bundle = ModelBundle.load(model_dir)
    size = bundle.input_size
    labels = np.array([lab for _, lab in val], dtype=int)
    grays = [load_image(p, size) for p, _ in val]
    batch = np.stack(grays).astype(np.float32)[..., None]
    float_logits = np.asarray(run.model.predict(batch, batch_size=64, verbose=0)).reshape(len(val), -1)[:, 0]
    float_probs = run.probabilities(float_logits)
    int8 = [bundle.predict(g) for g in grays]
    int8_logits = np.array([p.logit for p in int8])
    int8_probs = np.array([p.probability for p in int8])
    f_auc, q_auc = roc_auc(labels, float_probs), roc_auc(labels, int8_probs)
    digest = (bundle.metadata.training or {}).get("config_digest") if isinstance(
        bundle.metadata.training, dict) else None
    run_digest = run.provenance.get("config_digest")
    return {
        "status": "ok",
        "model_from_this_run": bool(digest) and digest == run_digest,
        "images": len(val),
        "positives": int(labels.sum()),
        "float": {"roc_auc": round(f_auc, 5), **operating_point(labels, float_probs, run.threshold)},
        "int8": {"roc_auc": round(q_auc, 5),
                 **operating_point(labels, int8_probs, bundle.metadata.threshold_value)},
        "auc_drop": round(f_auc - q_auc, 5),
        "logit_mean_abs_diff": round(float(np.mean(np.abs(float_logits - int8_logits))), 5),
        "decision_agreement": round(float(np.mean(
            (float_probs >= run.threshold) == (int8_probs >= bundle.metadata.threshold_value))), 5),
        "model": f"{bundle.metadata.name} {bundle.metadata.version}",
    }
