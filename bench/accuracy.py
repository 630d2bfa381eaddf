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

from pneumonia_core import metrics

log = logging.getLogger(__name__)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (:func:`pneumonia_core.metrics.roc_auc`); NaN for one class."""
    return metrics.roc_auc(np.asarray(labels).astype(bool).astype(int), scores)


def operating_point(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity and confusion counts at ``threshold`` (the shared decision)."""
    cm = metrics.confusion(np.asarray(labels).astype(bool).astype(int), probs, threshold)
    tp, fn, tn, fp = cm["tp"], cm["fn"], cm["tn"], cm["fp"]
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
            run.operating_point().positives(float_probs)
            == bundle.operating_point.positives(int8_probs))), 5),
        "model": f"{bundle.metadata.name} {bundle.metadata.version}",
    }
