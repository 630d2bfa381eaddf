"""The headline numbers of a run's ``report.json`` for the model card.

Where a model came from (config digest, data fingerprint, git commit) is what the training
run recorded (:mod:`training.run`, :mod:`pneumonia_core.provenance`); nothing is recomputed here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

#: Metric names looked up in a run's report.json, with the aliases training may use.
HEADLINE_KEYS = {
    "roc_auc": ("roc_auc", "auc", "val_auc"),
    "sensitivity": ("sensitivity", "recall", "tpr"),
    "specificity": ("specificity", "tnr"),
    "ece": ("ece_calibrated", "ece_after", "ece"),
    "ece_uncalibrated": ("ece_uncalibrated", "ece_before", "ece_raw"),
}


def find_key(obj: Any, names: Iterable[str]) -> Any:
    """The first value stored under one of ``names`` anywhere in nested dicts (breadth first)."""
    names = tuple(names)
    queue = [obj]
    while queue:
        item = queue.pop(0)
        if isinstance(item, dict):
            for name in names:
                if name in item and not isinstance(item[name], (dict, list)):
                    return item[name]
            queue.extend(v for v in item.values() if isinstance(v, dict))
    return None


def headline_metrics(report: dict[str, Any]) -> dict[str, float]:
    """ROC AUC, sensitivity, specificity and ECE from a run's report.json, where present.
    Looks in a validation section first."""
    section = report
    for key in ("validation", "val", "metrics"):
        if isinstance(report.get(key), dict):
            section = report[key]
            break
    out = {}
    for name, aliases in HEADLINE_KEYS.items():
        value = find_key(section, aliases)
        if value is None and section is not report:
            value = find_key(report, aliases)
        if isinstance(value, (int, float)):
            out[name] = float(value)
    return out
