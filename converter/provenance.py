"""Where a model came from: training config digest, data fingerprint, git commit, and the
headline numbers of a run's ``report.json``."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from converter.run_source import Sample

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Metric names looked up in a run's report.json, with the aliases training may use.
HEADLINE_KEYS = {
    "roc_auc": ("roc_auc", "auc", "val_auc"),
    "sensitivity": ("sensitivity", "recall", "tpr"),
    "specificity": ("specificity", "tnr"),
    "ece": ("ece_calibrated", "ece_after", "ece"),
    "ece_uncalibrated": ("ece_uncalibrated", "ece_before", "ece_raw"),
}


def config_digest(config: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the training configuration."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


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


def data_fingerprint(samples: Iterable[Sample], *sources: dict[str, Any]) -> str:
    """The run's own data fingerprint when it recorded one, else SHA-256 over the sorted
    (file name, label, size) of every image in the split."""
    for source in sources:
        value = find_key(source, ("data_fingerprint", "fingerprint"))
        if isinstance(value, str) and value:
            return value
    h = hashlib.sha256()
    for s in sorted(samples, key=lambda s: (s.path.parent.name, s.path.name)):
        size = s.path.stat().st_size if s.path.exists() else -1
        h.update(f"{s.path.parent.name}/{s.path.name}:{s.label}:{size}\n".encode())
    return h.hexdigest()


def git_commit(*sources: dict[str, Any]) -> str:
    """The commit the run recorded, else this checkout's HEAD (with ``-dirty`` when it has
    uncommitted changes), else ``"unknown"``."""
    for source in sources:
        value = find_key(source, ("git_commit", "commit"))
        if isinstance(value, str) and value:
            return value
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty.strip() else "")


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
