"""A training run folder as the converter sees it, read only through :mod:`training.run`.

The run folder contract is documented (and written) by :mod:`training.run`; this module adds
no second reader: it opens the run with :func:`training.run.load_run`, takes the export model
from :meth:`training.run.Run.export_model` and checks what the converter needs (a threshold,
a positive temperature, a square input), naming the missing or malformed piece.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class RunError(ValueError):
    """The run folder is incomplete or malformed; the message names what is wrong."""


@dataclass
class Sample:
    path: Path
    label: int  # 1 = the positive class


@dataclass
class RunSource:
    run_dir: Path
    config: dict[str, Any]  # config.json as written: {"config", "config_digest", ...}
    model: Any  # keras.Model, single logit
    export_model: Any  # keras.Model with dict outputs logit/cam/embedding
    train: list[Sample]
    val: list[Sample]
    temperature: float
    threshold: dict[str, Any]
    calibration: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    split_info: dict[str, Any] = field(default_factory=dict)  # seed, fraction, limit, root
    data_root: Path | None = None
    config_digest: str = ""
    data_fingerprint: str = ""  # as training recorded it (see pneumonia_core.provenance)
    git_commit: str = ""  # the commit that trained the model, as training recorded it

    @property
    def input_size(self) -> int:
        return int(self.model.input_shape[1])

    @property
    def channels(self) -> int:
        return int(self.model.input_shape[3])


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{Path(path).name} missing from the run folder {Path(path).parent}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"Cannot read {path}: {exc}") from None


def load_run_source(run_dir: str | Path) -> RunSource:
    """Everything the converter needs from a finished training run; :class:`RunError` names
    what is missing or malformed."""
    from training import run as R

    run_dir = Path(run_dir)
    run = _open_finished_run(run_dir)
    if "value" not in run.threshold_info:
        raise RunError(f"{R.THRESHOLD_FILE} has no 'value': {run.threshold_info}")
    temperature = _checked_temperature(run.calibration)
    model, export_model = _checked_models(run)
    split_file = read_json(run_dir / R.SPLIT_FILE)
    info = {k: v for k, v in split_file.items() if not isinstance(v, (list, dict))}
    report_path = run_dir / R.REPORT_FILE
    return RunSource(
        run_dir=run_dir,
        config=dict(run.provenance),
        model=model,
        export_model=export_model,
        train=[Sample(Path(p), int(y)) for p, y in run.split["train"]],
        val=[Sample(Path(p), int(y)) for p, y in run.split["val"]],
        temperature=temperature,
        threshold=dict(run.threshold_info),
        calibration=dict(run.calibration),
        report=read_json(report_path) if report_path.is_file() else {},
        split_info=info,
        data_root=run.data_root,
        config_digest=str(run.provenance.get("config_digest") or run.config.digest()),
        data_fingerprint=str(run.provenance.get("data_fingerprint") or "unknown"),
        git_commit=str(run.provenance.get("git_commit") or "unknown"),
    )


def _open_finished_run(run_dir: Path) -> Any:  # -> training.run.Run
    """The run through :func:`training.run.load_run`, once every file a finished run has is there."""
    from training import run as R

    if not run_dir.is_dir():
        raise RunError(f"Run folder not found: {run_dir}")
    needed = (R.CONFIG_FILE, R.MODEL_FILE, R.SPLIT_FILE, R.CALIBRATION_FILE, R.THRESHOLD_FILE)
    missing = [f for f in needed if not (run_dir / f).exists()]
    if missing:
        raise RunError(f"Run folder {run_dir} lacks {', '.join(missing)}; is it a finished "
                       "training run?")
    try:
        return R.load_run(run_dir)
    except (R.RunError, KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise RunError(f"Cannot read the run folder {run_dir}: {type(exc).__name__}: {exc}") from None


def _checked_temperature(calibration: dict[str, Any]) -> float:
    from training import run as R

    try:
        temperature = float(calibration["temperature"])
    except (KeyError, TypeError, ValueError):
        raise RunError(f"{R.CALIBRATION_FILE} has no numeric 'temperature': "
                       f"{calibration}") from None
    if not (temperature > 0 and math.isfinite(temperature)):
        raise RunError(f"{R.CALIBRATION_FILE} temperature must be a positive number; received "
                       f"{temperature}")
    return temperature


def _checked_models(run: Any) -> tuple[Any, Any]:
    """(the trained model, its export model), once the input is a square 1- or 3-channel image."""
    model = run.model
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] not in (1, 3):
        raise RunError(f"model input must be (S, S, 1|3); received {shape[1:]}")
    try:
        return model, run.export_model()
    except ValueError as exc:
        raise RunError(f"The model does not follow the export contract: {exc}") from None
