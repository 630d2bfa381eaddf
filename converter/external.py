"""An external labelled set (any folder with ``NORMAL/`` and ``PNEUMONIA/``, e.g. test_public)
scored the way ``pneumonia-xray classify`` scores it, and the operating point fitted on it.

Scoring goes through the app's own path: the finished model folder is loaded with
:class:`pneumonia_core.model.ModelBundle` and every file is classified with
:func:`pneumonia_core.pipeline.classify_many` (the app's loader, out-of-scope guard, LiteRT
runner and :class:`~pneumonia_core.decision.OperatingPoint`). Metrics are over the films the
app classified; films it refused (out of scope) or could not read are counted and listed.

Fitting (``fit_operating_point``), when the model card is to say so:

- calibration: logistic (``P = sigmoid(scale * logit + offset)``), maximum likelihood on the
  external logits (two parameters: it can also correct the class-prior shift between the
  training data and the external set, which a temperature cannot);
- threshold: the highest specificity whose sensitivity on the external set is at least the
  target (default :data:`EXTERNAL_TARGET_SENSITIVITY`, a margin above the 0.97 the held-back
  films must keep: on ~200 pneumonia films one more miss moves sensitivity by 0.005), then
  lowered to just above the highest NORMAL score below it: the same specificity with every
  PNEUMONIA film in between kept (:func:`pneumonia_core.calibration.widen_threshold`), a free
  sensitivity margin. Both fits are :mod:`pneumonia_core.calibration`'s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pneumonia_core.calibration import choose_threshold, fit_calibration, fit_logistic
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.metrics import classification_summary

log = logging.getLogger(__name__)

LABELS = ("NORMAL", "PNEUMONIA")
EXTERNAL_TARGET_SENSITIVITY = 0.985
USAGES = ("untouched", "selection", "calibration and threshold",
          "selection, calibration and threshold")

Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class ExternalScores:
    """What the app said about each film of an external set."""

    name: str
    paths: list[Path]
    labels: np.ndarray  # of every file, 1 = PNEUMONIA
    logits: np.ndarray  # NaN where the app gave no logit (unreadable or refused before the model)
    status: list[str]
    messages: list[str] = field(default_factory=list)

    @property
    def classified(self) -> np.ndarray:
        """Mask of films the app classified (status ok)."""
        return np.array([s == "ok" for s in self.status], dtype=bool)

    @property
    def with_logit(self) -> np.ndarray:
        return np.isfinite(self.logits)


def scan_folder(folder: Path) -> tuple[list[Path], np.ndarray]:
    """Every file in ``folder/NORMAL`` and ``folder/PNEUMONIA`` (sorted), with its label."""
    folder = Path(folder)
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(LABELS):
        sub = folder / name
        if not sub.is_dir():
            raise FileNotFoundError(f"external set {folder} has no {name}/ folder")
        files = sorted(p for p in sub.iterdir() if p.is_file() and not p.name.startswith("."))
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise FileNotFoundError(f"external set {folder} holds no files in NORMAL/ or PNEUMONIA/")
    return paths, np.asarray(labels, np.int64)


def score_folder(model_dir: Path, folder: Path, name: str | None = None,
                 progress: Progress = _no_progress) -> ExternalScores:
    """Classify every file of ``folder`` with the model folder, as ``classify`` would."""
    from pneumonia_core.model import ModelBundle
    from pneumonia_core.pipeline import classify_many, default_workers

    paths, labels = scan_folder(folder)
    bundle = ModelBundle.load(model_dir)
    logits, status, messages = [], [], []
    for i, result in enumerate(classify_many(paths, bundle, workers=default_workers())):
        logits.append(np.nan if result.logit is None else float(result.logit))
        status.append(result.status)
        messages.append(result.message)
        progress(f"external set {name or Path(folder).name}", i + 1, len(paths))
    scores = ExternalScores(name or Path(folder).resolve().name, paths, labels,
                            np.asarray(logits, np.float64), status, messages)
    refused = [(p.name, s, m) for p, s, m in zip(paths, status, messages, strict=True) if s != "ok"]
    for fname, s, m in refused:
        log.warning("external set: %s %s: %s", fname, s, m)
    return scores


def fit_operating_point(scores: ExternalScores, base: OperatingPoint,
                        target_sensitivity: float = EXTERNAL_TARGET_SENSITIVITY
                        ) -> tuple[OperatingPoint, dict[str, Any], dict[str, Any]]:
    """Logistic calibration and threshold fitted on the films the app classified.

    Returns the point and the metadata ``calibration`` and ``threshold`` sections."""
    ok = scores.classified & scores.with_logit
    y, z = scores.labels[ok], scores.logits[ok]
    if y.size == 0 or y.min() == y.max():
        raise ValueError("logistic calibration needs films of both classes")
    # Logits that separate the classes have no maximum-likelihood fit (scale and offset grow
    # without bound); Platt's prior-corrected targets keep it finite there.
    separated = bool(z[y == 0].max() < z[y == 1].min())
    scale, offset = (fit_logistic(y, z, prior_targets=True) if separated
                     else fit_calibration(y, z, "logistic"))
    if not (math.isfinite(scale) and scale > 0 and math.isfinite(offset)):
        raise ValueError(f"logistic calibration failed (scale {scale}, offset {offset}): the "
                         "external logits do not rank the classes")
    fitted = OperatingPoint(base.threshold, scale=scale, offset=offset, labels=base.labels,
                            positive_label=base.positive_label)
    chosen = choose_threshold(y, fitted.probabilities(z), target_sensitivity, widen=True)
    n = int(ok.sum())
    where = f"external set {scores.name} ({n} films the app classified, {int(y.sum())} PNEUMONIA)"
    calibration = {"method": "logistic", "scale": scale, "offset": offset,
                   "fitted_on": where + ("; the logits separate the classes: fitted to Platt's "
                                         "prior-corrected targets" if separated else "")}
    threshold = {
        "value": float(chosen["value"]),
        "rule": (f"highest specificity with sensitivity >= {target_sensitivity} on the "
                 f"calibrated probabilities of the {where}, then lowered to halfway between the "
                 "highest NORMAL score below it and the next higher score (same specificity, "
                 "every PNEUMONIA film in between kept)"),
        "target_sensitivity": float(target_sensitivity),
        "sensitivity": float(chosen["sensitivity"]),
        "specificity": float(chosen["specificity"]),
        "fitted_on": where,
    }
    point = fitted.with_threshold(threshold["value"], source="model default")
    log.info("fitted on %s: scale %.4f, offset %.4f, threshold %.4f (sensitivity %.4f, "
             "specificity %.4f)", scores.name, scale, offset, threshold["value"],
             threshold["sensitivity"], threshold["specificity"])
    return point, calibration, threshold


def summarize(scores: ExternalScores, point: OperatingPoint, usage: str,
              n_bins: int = 15) -> dict[str, Any]:
    """Metrics with 95% intervals over the classified films, at ``point``; counts and names
    of the films the app did not classify."""
    ok = scores.classified & scores.with_logit
    y = scores.labels[ok]
    probs = point.probabilities(scores.logits[ok])
    out = classification_summary(y, probs, point, ece_bins=sorted({10, 15, n_bins}))
    out["ece"] = out[f"ece_{n_bins}"]
    out.update({
        "name": scores.name,
        "usage": usage,
        "n_files": len(scores.paths),
        "n_not_classified": int((~ok).sum()),
        "not_classified": [
            {"file": f"{LABELS[int(scores.labels[i])]}/{scores.paths[i].name}",
             "status": scores.status[i],
             "message": scores.messages[i] if i < len(scores.messages) else ""}
            for i in np.flatnonzero(~ok) if i < len(scores.paths)],
        "distinct_probabilities": int(np.unique(probs).size),
        "calibration": {"scale": point.scale, "offset": point.offset},
    })
    return out
