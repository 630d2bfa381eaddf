"""A finished training run folder (RUN_DIR) and its Python API.

RUN_DIR contract (written by ``pneumonia-train``; the converter reads it):

- ``config.json``: ``{"config": TrainConfig as dict, "config_digest", "data_fingerprint"
  (SHA-256 of the sorted relative file list + sizes of <data>/train), "data_root", "git_commit"}``
- ``model.keras``: the best checkpoint (highest validation ROC AUC); a Keras model with input
  ``(S, S, C_in)`` float raw pixels 0..255 (C_in = 1: grey from
  :func:`pneumonia_core.imageio.load_image`; the seed baseline replicates it to RGB inside the
  model) and ONE output: the uncalibrated logit ``(N, 1)``. :meth:`Run.export_model` gives the
  converter's dict-output model ``{"logit", "cam", "embedding"}``.
- ``last.keras`` + ``state.json``: the last epoch's checkpoint, for ``--resume`` (may be deleted).
- ``split.json``: ``{"data_root", "seed", "val_fraction", "limit", "train": [{"path": rel,
  "label": 0|1}, ...], "val": [...]}``; paths relative to ``data_root``, label 1 = PNEUMONIA.
- ``history.csv``: one row per epoch (epoch, loss, val_loss, val_roc_auc, lr, seconds).
- ``calibration.json``: ``{"method": "temperature", "temperature": T, "ece_before", "ece_after"}``
  fitted on the validation logits; calibrated P = sigmoid(logit / T).
- ``threshold.json``: ``{"value", "rule", "target_sensitivity", "sensitivity", "specificity"}``
  on the calibrated validation probabilities.
- ``report.json`` / ``report.md``: metrics of the calibrated model on the validation split
  (top-level keys: accuracy, sensitivity, specificity, precision, npv, f1, roc_auc, pr_auc,
  brier, ece, threshold, confusion_matrix{tn,fp,fn,tp}, plus extras); ``report_<split>.json``
  and ``.md`` for other splits evaluated later.
- ``plots/*.png``: learning_curves, roc, confusion_matrix, reliability (``<name>_<split>.png``
  for other splits).
- ``val_logits.npy``: validation logits of the best checkpoint (same order as split.json).

Python API: ``run = load_run(RUN_DIR)``; ``run.config``, ``run.model``, ``run.export_model()``,
``run.split["train" | "val"]`` as lists of ``(absolute path, label)``, ``run.temperature``,
``run.threshold``, ``run.load_arrays(paths)`` and ``run.probabilities(logits)``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.config import TrainConfig, load_config

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
LAST_FILE = "last.keras"
STATE_FILE = "state.json"
SPLIT_FILE = "split.json"
HISTORY_FILE = "history.csv"
CALIBRATION_FILE = "calibration.json"
THRESHOLD_FILE = "threshold.json"
REPORT_FILE = "report.json"
REPORT_MD = "report.md"
VAL_LOGITS_FILE = "val_logits.npy"
PLOTS_DIR = "plots"


class RunError(RuntimeError):
    """The run folder is incomplete or inconsistent."""


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunError(f"missing {Path(path).name} in {Path(path).parent}") from None


def write_json(path: Path, payload: Any) -> None:
    Path(path).write_text(json.dumps(payload, indent=2, sort_keys=True, allow_nan=False,
                                     default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def clean_nan(obj: Any) -> Any:
    """NaN/inf -> None, recursively, so reports are valid JSON."""
    if isinstance(obj, dict):
        return {k: clean_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_nan(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def split_entries(payload: dict[str, Any], name: str, data_root: Path) -> list[tuple[Path, int]]:
    return [(data_root / e["path"], int(e["label"])) for e in payload.get(name, [])]


@dataclass
class Run:
    run_dir: Path
    config: TrainConfig
    provenance: dict[str, Any]
    data_root: Path
    split: dict[str, list[tuple[Path, int]]]
    calibration: dict[str, Any] = field(default_factory=dict)
    threshold_info: dict[str, Any] = field(default_factory=dict)
    _model: Any = None

    @property
    def temperature(self) -> float:
        return float(self.calibration.get("temperature", 1.0))

    @property
    def threshold(self) -> float:
        if "value" not in self.threshold_info:
            raise RunError(f"{THRESHOLD_FILE} missing in {self.run_dir}")
        return float(self.threshold_info["value"])

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def model(self) -> Any:
        """The best checkpoint as a Keras model (logit output); loaded on first use."""
        if self._model is None:
            from training.model import load_keras_model

            path = self.run_dir / MODEL_FILE
            if not path.is_file():
                raise RunError(f"missing {MODEL_FILE} in {self.run_dir}")
            self._model = load_keras_model(path)
        return self._model

    def export_model(self) -> Any:
        """The dict-output model ``{"logit", "cam", "embedding"}`` for the converter."""
        from training.model import build_export_model

        return build_export_model(self.model)

    def load_arrays(self, paths: list[Path] | list[str], cache_dir: Path | None = None) -> np.ndarray:
        """``(N, S, S, 1)`` float32 raw pixels (0..255) through the shared loader."""
        from training.data import load_arrays

        return load_arrays(paths, self.image_size, cache_dir)[..., None].astype(np.float32)

    def operating_point(self) -> Any:
        """The run's decision (:class:`pneumonia_core.decision.OperatingPoint`): its
        temperature and threshold."""
        from pneumonia_core.decision import OperatingPoint

        return OperatingPoint.from_temperature(
            self.threshold, self.temperature, source=f"training run {self.run_dir.name}",
            description=str(self.threshold_info.get("rule", "")))

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated P(PNEUMONIA) = sigmoid(logit / T)."""
        from pneumonia_core.decision import calibrated

        return calibrated(logits, 1.0 / self.temperature)


def load_run(run_dir: str | Path, data_root: str | Path | None = None) -> Run:
    """Open a run folder. ``data_root`` overrides the one recorded in ``split.json``
    (when the data moved)."""
    run_dir = Path(run_dir).resolve()
    if not run_dir.is_dir():
        raise RunError(f"run folder not found: {run_dir}")
    config, provenance = load_config(run_dir / CONFIG_FILE)
    split_payload = read_json(run_dir / SPLIT_FILE)
    root = Path(data_root) if data_root is not None else Path(split_payload["data_root"])
    split = {name: split_entries(split_payload, name, root) for name in ("train", "val")}
    calib = read_json(run_dir / CALIBRATION_FILE) if (run_dir / CALIBRATION_FILE).is_file() else {}
    thr = read_json(run_dir / THRESHOLD_FILE) if (run_dir / THRESHOLD_FILE).is_file() else {}
    return Run(run_dir, config, provenance, root, split, calib, thr)
