"""Accuracy cost of conversion: float Keras model vs the shipped ``.tflite`` (and vs the same
network in the other precision, see :mod:`bench.quantization`) on the run's validation split
(patient-grouped, never trained on), each at its own calibrated threshold.

Float: the run's ``model.keras``, calibrated with the run's temperature, at the run's threshold.
Shipped: the shipped model folder through :class:`pneumonia_core.model.ModelBundle` (calibration
and threshold from its ``metadata.json``), i.e. exactly what the app reports; the other
precision through the same class with a copy of that metadata.
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


def _score(bundle: Any, grays: list[np.ndarray], labels: np.ndarray, run: Any,
           float_logits: np.ndarray, float_probs: np.ndarray, f_auc: float) -> dict[str, Any]:
    """One converted model folder against float Keras: its AUC, operating point, AUC lost,
    logit drift and decision agreement (each model at its own metadata's threshold)."""
    preds = [bundle.predict(g) for g in grays]
    logits = np.array([p.logit for p in preds])
    probs = np.array([p.probability for p in preds])
    auc = roc_auc(labels, probs)
    return {
        "quantization": bundle.metadata.quantization,
        "roc_auc": round(auc, 5),
        **operating_point(labels, probs, bundle.metadata.threshold_value),
        "auc_drop": round(f_auc - auc, 5),
        "logit_mean_abs_diff": round(float(np.mean(np.abs(float_logits - logits))), 5),
        "logit_max_abs_diff": round(float(np.max(np.abs(float_logits - logits))), 5),
        "decision_agreement": round(float(np.mean(
            run.operating_point().positives(float_probs)
            == bundle.operating_point.positives(probs))), 5),
    }


def bench_accuracy(run_dir: Path | None, model_dir: Path, limit: int | None = None,
                   other_model_dir: Path | None = None) -> dict[str, Any]:
    """Float Keras vs the shipped model (side ``"shipped"``) and, when ``other_model_dir``
    holds the same network in the other precision (:mod:`bench.quantization`), vs that one
    too (side ``"other"``, scored with the shipped calibration and threshold)."""
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
    f_auc = roc_auc(labels, float_probs)
    digest = (bundle.metadata.training or {}).get("config_digest") if isinstance(
        bundle.metadata.training, dict) else None
    run_digest = run.provenance.get("config_digest")
    out: dict[str, Any] = {
        "status": "ok",
        "model_from_this_run": bool(digest) and digest == run_digest,
        "images": len(val),
        "positives": int(labels.sum()),
        "float": {"roc_auc": round(f_auc, 5), **operating_point(labels, float_probs, run.threshold)},
        "shipped": _score(bundle, grays, labels, run, float_logits, float_probs, f_auc),
        "model": f"{bundle.metadata.name} {bundle.metadata.version}",
    }
    if other_model_dir is not None and (other_model_dir / "metadata.json").is_file():
        other = ModelBundle.load(other_model_dir)
        out["other"] = _score(other, grays, labels, run, float_logits, float_probs, f_auc)
    return out
