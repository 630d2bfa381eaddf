"""Reads a training run folder into what the converter needs.

The run folder contract (written by ``pneumonia-train``): ``config.json``, ``model.keras``
(single-logit training model), ``split.json``, ``calibration.json`` (``{"temperature", ...}``),
``threshold.json`` (``{"value", "rule", "target_sensitivity", "sensitivity", "specificity"}``),
``report.json``, ``report.md`` and ``plots/*.png``.

The model and the split are read through ``training.run.load_run`` when the training package
provides it, so both sides agree on the format; the small JSON files are read directly.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LABELS = ("NORMAL", "PNEUMONIA")
REQUIRED_FILES = ("config.json", "model.keras", "split.json", "calibration.json", "threshold.json")


class RunError(ValueError):
    """The run folder is incomplete or malformed; the message names what is wrong."""


@dataclass
class Sample:
    path: Path
    label: int  # 1 = PNEUMONIA


@dataclass
class RunSource:
    run_dir: Path
    config: dict[str, Any]
    model: Any  # keras.Model, single logit
    export_model: Any  # keras.Model with dict outputs logit/cam/embedding
    train: list[Sample]
    val: list[Sample]
    temperature: float
    threshold: dict[str, Any]
    calibration: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    split_info: dict[str, Any] = field(default_factory=dict)

    @property
    def input_size(self) -> int:
        return int(self.model.input_shape[1])

    @property
    def channels(self) -> int:
        return int(self.model.input_shape[3])


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.name} missing from the run folder {path.parent}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"Cannot read {path}: {exc}") from None


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return dict(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    if hasattr(obj, "__dict__"):
        return {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    raise RunError(f"Cannot read a mapping from {type(obj).__name__}")


def _label_of(item: Any, path: Path) -> int:
    if isinstance(item, dict):
        for key in ("label", "y", "class", "target"):
            if key in item:
                value = item[key]
                if isinstance(value, str):
                    return int(value.upper() == LABELS[1])
                return int(value)
    elif isinstance(item, (list, tuple)) and len(item) >= 2:
        value = item[1]
        return int(value.upper() == LABELS[1]) if isinstance(value, str) else int(value)
    parent = path.parent.name.upper()
    if parent in LABELS:
        return LABELS.index(parent)
    raise RunError(f"Cannot tell the label of split entry {item!r}")


def _path_of(item: Any) -> str:
    if isinstance(item, (str, Path)):
        return str(item)
    if isinstance(item, dict):
        for key in ("path", "file", "filename"):
            if key in item:
                return str(item[key])
    if isinstance(item, (list, tuple)) and item:
        return str(item[0])
    raise RunError(f"Cannot read a file path from split entry {item!r}")


def _find_root(split: dict[str, Any], config: dict[str, Any]) -> Path | None:
    for source in (split, config):
        for key in ("root", "data_root", "data", "data_dir"):
            value = source.get(key)
            if isinstance(value, str):
                return Path(value)
    return None


def parse_split_entries(entries: Any, root: Path | None) -> list[Sample]:
    """Accepts a list of paths, of ``[path, label]`` pairs or of ``{"path", "label"}`` dicts,
    or a ``{"paths": [...], "labels": [...]}`` mapping; relative paths resolve against ``root``."""
    if isinstance(entries, dict) and "paths" in entries:
        labels = entries.get("labels")
        entries = [
            {"path": p, "label": labels[i]} if labels is not None else p
            for i, p in enumerate(entries["paths"])
        ]
    if not isinstance(entries, (list, tuple)):
        raise RunError(f"split entries must be a list; received {type(entries).__name__}")
    samples = []
    for item in entries:
        path = Path(_path_of(item))
        if not path.is_absolute() and root is not None:
            path = root / path
        samples.append(Sample(path, _label_of(item, path)))
    return samples


def split_samples(split: dict[str, Any], config: dict[str, Any], name: str) -> list[Sample]:
    keys = {"train": ("train", "training"), "val": ("val", "validation", "valid")}[name]
    for key in keys:
        if key in split:
            return parse_split_entries(split[key], _find_root(split, config))
    raise RunError(f"split.json has no {name!r} list (keys: {sorted(split)})")


def build_export_model(model: Any) -> Any:
    """The export model of the contract from a single-logit training model: dict outputs
    ``logit`` (GAP of the CAM), ``cam`` (N, h, w) from the ``cam_head`` layer and
    ``embedding`` (GAP of the feature map that feeds ``cam_head``)."""
    import keras

    try:
        head = model.get_layer("cam_head")
    except ValueError:
        raise RunError(
            "The model has no layer named 'cam_head'; it does not follow the model contract "
            "(Conv2D(1, 1) 'cam_head' -> GlobalAveragePooling2D)"
        ) from None
    cam = head.output
    feats = head.input
    outputs = {
        "logit": keras.layers.GlobalAveragePooling2D(name="export_logit")(cam),
        "cam": keras.layers.Reshape(tuple(cam.shape[1:3]), name="export_cam")(cam),
        "embedding": keras.layers.GlobalAveragePooling2D(name="export_embedding")(feats),
    }
    return keras.Model(model.inputs, outputs, name="export")


def _load_via_training(run_dir: Path) -> tuple[Any, Any, dict[str, Any] | None]:
    """(model, export_model, split) from ``training.run.load_run``; Nones for whatever the
    training package cannot provide (not installed, or an older version)."""
    try:
        from training.run import load_run
    except ImportError:
        return None, None, None
    run = load_run(run_dir)
    split = getattr(run, "split", None)
    split_dict = _as_dict(split) if split is not None else None
    try:
        model = run.model
        export_model = run.export_model() if hasattr(run, "export_model") else None
    except ImportError as exc:
        log.warning("training package cannot load the model (%s); loading it with Keras", exc)
        return None, None, split_dict
    return model, export_model, split_dict


def load_run_source(run_dir: str | Path) -> RunSource:
    """Load everything the converter needs from a training run folder; raise :class:`RunError`
    naming the missing or malformed piece."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"Run folder not found: {run_dir}")
    missing = [f for f in REQUIRED_FILES if not (run_dir / f).exists()]
    if missing:
        raise RunError(f"Run folder {run_dir} lacks {', '.join(missing)}; is it a finished training run?")
    config = _as_dict(read_json(run_dir / "config.json"))
    calibration = _as_dict(read_json(run_dir / "calibration.json"))
    threshold = _as_dict(read_json(run_dir / "threshold.json"))
    report = _as_dict(read_json(run_dir / "report.json")) if (run_dir / "report.json").exists() else {}
    if "value" not in threshold:
        raise RunError(f"threshold.json has no 'value': {threshold}")
    try:
        temperature = float(calibration["temperature"])
    except (KeyError, TypeError, ValueError):
        raise RunError(f"calibration.json has no numeric 'temperature': {calibration}") from None
    if not (temperature > 0 and temperature < float("inf")):
        raise RunError(f"calibration.json temperature must be a positive number; received {temperature}")

    model, export_model, split = _load_via_training(run_dir)
    if model is None:
        import keras

        model = keras.models.load_model(run_dir / "model.keras", compile=False)
    if export_model is None:
        export_model = build_export_model(model)
    split_file = _as_dict(read_json(run_dir / "split.json"))
    if split is None:
        split = split_file
    # Facts about the split (seed, fraction, limit, data root) without the file lists.
    info = {k: v for k, v in split_file.items() if not isinstance(v, (list, dict))}
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] not in (1, 3):
        raise RunError(f"model input must be (S, S, 1|3); received {shape[1:]}")
    return RunSource(
        run_dir=run_dir,
        config=config,
        model=model,
        export_model=export_model,
        train=split_samples(split, config, "train"),
        val=split_samples(split, config, "val"),
        temperature=temperature,
        threshold=threshold,
        calibration=calibration,
        report=report,
        split=split,
        split_info=info,
    )
