"""The model metadata schema: everything the app knows about a model travels in metadata.json.

Schema version 1 (``SCHEMA_VERSION``). Written by the converter beside ``model.tflite``; read
by the app and the batch command, which hard-code none of it. Field reference:

- ``schema_version`` (int), ``name``, ``version`` (str), ``created`` (ISO 8601 UTC)
- ``labels``: class names, index 0 negative; ``positive_label``: the class the score is for
- ``input``: ``name``, ``shape`` ([1, H, W, C]), ``dtype`` ("float32"), ``channels``,
  ``color`` ("grayscale"), ``value_range`` ([0, 255]: raw 8-bit pixels, the model rescales),
  ``resize`` (how :func:`pneumonia_core.imageio.load_image` resizes)
- ``outputs``: ``{"logit": {"name", "shape"}, "cam": {...}, "embedding": {...}}``; the logit is
  the uncalibrated score, ``cam`` the class-activation map (logit contribution per cell, its
  mean equals the logit), ``embedding`` the pooled features for the out-of-scope guard
- ``calibration``: ``{"method": "temperature", "temperature": T}`` (P = sigmoid(logit / T)) or
  ``{"method": "logistic", "scale": a, "offset": b}`` (P = sigmoid(a * logit + b))
- ``threshold``: ``{"value", "rule", "target_sensitivity", "sensitivity", "specificity"}`` on
  the calibrated probability; predicted ``positive_label`` when P >= value (the rule lives in
  :mod:`pneumonia_core.decision`; :meth:`ModelMetadata.operating_point` builds it)
- ``validation``: metrics of the converted model on the validation split
- ``training``: ``config_digest``, ``data_fingerprint``, ``git_commit``, ``config``
- ``quantization``: "int8", "float16" or "float32"
- ``scope``: out-of-scope guard statistics (see :mod:`pneumonia_core.scope`), optional; its
  per-feature arrays live in ``scope_arrays.npy`` beside it, named by ``scope.arrays``
  (:mod:`pneumonia_core.scope_arrays`; put back in place when the metadata is loaded)
- ``file``: the .tflite file name; ``sha256``: its SHA-256 hex digest
- ``intended_use`` (str), ``limitations`` (list of str)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pneumonia_core.decision import DEFAULT_LABELS, DEFAULT_POSITIVE_LABEL, OperatingPoint
from pneumonia_core.metadata_json import MetadataError, read_metadata_json

SCHEMA_VERSION = 1
METADATA_FILE = "metadata.json"
MODEL_FILE = "model.tflite"

INTENDED_USE = (
    "Triage aid for pediatric (age 1-5) frontal chest radiographs: flags films that may show "
    "pneumonia so that a qualified reader looks at them first. Not a diagnosis; every film is "
    "still read by a clinician."
)
LIMITATIONS = [
    "Trained on one hospital's pediatric AP chest films (Kermany et al. 2018); performance on "
    "adults, lateral views, other hospitals or other equipment is unknown.",
    "Does not distinguish bacterial from viral pneumonia and does not detect other findings.",
    "A NORMAL result does not exclude disease; the operating point favours sensitivity, so "
    "false alarms are expected.",
    "Inputs that are not frontal chest radiographs are rejected as out of scope on a best-effort "
    "basis; the guard is not perfect.",
]


@dataclass(frozen=True)
class Threshold:
    """The typed ``threshold`` section."""

    value: float
    rule: str = ""
    target_sensitivity: float | None = None
    sensitivity: float | None = None
    specificity: float | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Threshold:
        if not isinstance(data, dict):
            raise MetadataError("threshold must be an object with a value")
        try:
            value = float(data["value"])
        except (KeyError, TypeError, ValueError):
            raise MetadataError(f"threshold.value missing or not a number: {data}") from None
        if not 0.0 < value < 1.0:
            raise MetadataError(f"threshold.value must lie in (0, 1); received {value}")
        return cls(value, str(data.get("rule", "")), data.get("target_sensitivity"),
                   data.get("sensitivity"), data.get("specificity"))


@dataclass(frozen=True)
class Calibration:
    """The typed ``calibration`` section as P = sigmoid(scale * logit + offset)."""

    method: str
    scale: float
    offset: float

    @classmethod
    def from_dict(cls, data: Any) -> Calibration:
        if not isinstance(data, dict):
            raise MetadataError("calibration must be an object")
        method = data.get("method", "temperature")

        def number(key: str, default: float) -> float:
            try:
                v = float(data.get(key, default))
            except (TypeError, ValueError):
                raise MetadataError(f"calibration.{key} must be a number; received "
                                    f"{data.get(key)!r}") from None
            if not math.isfinite(v):
                raise MetadataError(f"calibration.{key} must be finite; received {v}")
            return v

        if method == "temperature":
            t = number("temperature", 1.0)
            if t <= 0:
                raise MetadataError(f"calibration.temperature must be > 0; received {t}")
            return cls(method, 1.0 / t, 0.0)
        if method == "logistic":
            scale, offset = number("scale", 1.0), number("offset", 0.0)
            if scale <= 0:
                raise MetadataError(f"calibration.scale must be > 0; received {scale}")
            return cls(method, scale, offset)
        raise MetadataError(f"calibration.method {method!r} is unknown (expected 'temperature' "
                            "or 'logistic')")


@dataclass
class InputSpec:
    """The typed ``input`` section: the model's input tensor and how images are made for it."""

    name: str = "image"
    shape: list[int] = field(default_factory=lambda: [1, 224, 224, 1])
    dtype: str = "float32"
    channels: int = 1
    color: str = "grayscale"
    value_range: list[float] = field(default_factory=lambda: [0.0, 255.0])
    resize: str = ""

    @property
    def size(self) -> int:
        return int(self.shape[1])


@dataclass(eq=False)
class ModelMetadata:
    """The typed ``metadata.json`` of a model folder (schema in the module docstring)."""

    name: str
    version: str
    created: str
    sha256: str
    input: InputSpec
    outputs: dict[str, dict[str, Any]]
    threshold: dict[str, Any]
    calibration: dict[str, Any] = field(
        default_factory=lambda: {"method": "temperature", "temperature": 1.0}
    )
    labels: list[str] = field(default_factory=lambda: list(DEFAULT_LABELS))
    positive_label: str = DEFAULT_POSITIVE_LABEL
    file: str = MODEL_FILE
    quantization: str = "int8"
    validation: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    scope: dict[str, Any] = field(default_factory=dict)
    intended_use: str = INTENDED_USE
    limitations: list[str] = field(default_factory=lambda: list(LIMITATIONS))
    schema_version: int = SCHEMA_VERSION

    def __eq__(self, other: object) -> bool:
        """Equal when their documents are (the guard's statistics, arrays once loaded from
        ``scope_arrays.npy``, compared number by number)."""
        if not isinstance(other, ModelMetadata):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    # -- derived values ----------------------------------------------------------------
    @property
    def threshold_value(self) -> float:
        return float(self.threshold["value"])

    @property
    def temperature(self) -> float:
        """The equivalent temperature 1 / scale (exact for temperature calibration)."""
        return 1.0 / Calibration.from_dict(self.calibration).scale

    def operating_point(self) -> OperatingPoint:
        """The model's default decision: its calibration, threshold and labels."""
        cal = Calibration.from_dict(self.calibration)
        thr = Threshold.from_dict(self.threshold)
        return OperatingPoint(
            threshold=thr.value, scale=cal.scale, offset=cal.offset, labels=tuple(self.labels),
            positive_label=self.positive_label, source="model default",
            description=thr.rule)

    def probability(self, logit: float) -> float:
        """Calibrated P(positive) from the model's raw logit."""
        cal = Calibration.from_dict(self.calibration)
        return OperatingPoint(0.5, cal.scale, cal.offset).probability(logit)

    # -- (de)serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The metadata as a JSON document, the guard's statistics inline (as lists)."""
        from pneumonia_core.scope_arrays import with_lists

        d = asdict(self)
        d["scope"] = with_lists(d["scope"])
        # Stable, readable key order: identity first.
        order = ["schema_version", "name", "version", "created", "file", "sha256", "quantization"]
        return {k: d[k] for k in order} | {k: v for k, v in d.items() if k not in order}

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``metadata.json`` into ``folder``, the guard's feature statistics into their
        binary file beside it (:mod:`pneumonia_core.scope_arrays`), each atomically, the
        metadata last (a reader never sees new metadata naming an old file)."""
        from pneumonia_core import scope_arrays
        from pneumonia_core.atomic_files import atomic_write_bytes, atomic_write_text

        path = Path(folder) / METADATA_FILE
        doc = self.to_dict()
        doc["scope"], arrays = scope_arrays.split(doc["scope"])
        if arrays is not None:
            atomic_write_bytes(Path(folder) / scope_arrays.ARRAYS_FILE, arrays)
        atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=False) + "\n")
        if arrays is None:  # no file of an earlier save may stay behind unnamed
            (Path(folder) / scope_arrays.ARRAYS_FILE).unlink(missing_ok=True)
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        if not isinstance(data, dict):
            raise MetadataError("metadata.json must hold a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise MetadataError(
                f"Unsupported metadata schema_version {version!r} (this app reads {SCHEMA_VERSION})"
            )
        required = ["name", "version", "created", "sha256", "input", "outputs", "threshold"]
        missing = [k for k in required if k not in data]
        if missing:
            raise MetadataError(f"metadata.json lacks required field(s): {', '.join(missing)}")
        known = set(cls.__dataclass_fields__)
        kwargs = {k: v for k, v in data.items() if k in known}
        try:
            kwargs["input"] = InputSpec(**data["input"])
        except TypeError as exc:
            raise MetadataError(f"metadata.json 'input' is malformed: {exc}") from None
        meta = cls(**kwargs)
        meta.validate()
        return meta

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> ModelMetadata:
        """The metadata of ``folder``, with the guard's statistics of its binary file."""
        from pneumonia_core.scope_arrays import attach_from_folder

        folder = Path(folder)
        return cls.from_dict(attach_from_folder(read_metadata_json(folder / METADATA_FILE),
                                                folder))

    def validate(self) -> None:
        """Check internal consistency; raise :class:`MetadataError` naming the bad field."""
        self._check_types()
        shape = self.input.shape
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] not in (1, 3) or shape[1] < 8:
            raise MetadataError(f"input.shape must be [1, S, S, 1|3]; received {shape}")
        if "logit" not in self.outputs:
            raise MetadataError("outputs must include 'logit'")
        Threshold.from_dict(self.threshold)
        Calibration.from_dict(self.calibration)
        if len(self.sha256) != 64:
            raise MetadataError("sha256 must be a 64-character hex digest")
        if self.positive_label not in self.labels:
            raise MetadataError(f"positive_label {self.positive_label!r} not in labels {self.labels}")


    def _check_types(self) -> None:
        """JSON can hold anything: refuse wrong types with a clear message (a tampered or
        hand-edited metadata.json must not surface as a TypeError deep in the app)."""
        import numbers

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise MetadataError(message)

        need(isinstance(self.name, str) and isinstance(self.version, str),
             "name and version must be strings")
        need(isinstance(self.file, str) and self.file not in ("", ".", "..")
             and os.path.basename(self.file) == self.file and "\\" not in self.file,
             f"file must be a plain file name beside metadata.json; received {self.file!r}")
        need(isinstance(self.sha256, str)
             and all(ch in "0123456789abcdefABCDEF" for ch in self.sha256),
             "sha256 must be a 64-character hex digest")
        shape = self.input.shape
        need(isinstance(shape, (list, tuple))
             and all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in shape),
             f"input.shape must be a list of integers; received {shape!r}")
        need(isinstance(self.outputs, dict)
             and all(isinstance(v, dict) for v in self.outputs.values()),
             "outputs must map each output to an object with its name and shape")
        need(isinstance(self.threshold, dict), "threshold must be an object with a value")
        need(isinstance(self.calibration, dict), "calibration must be an object")
        need(isinstance(self.labels, (list, tuple)) and len(self.labels) >= 2
             and all(isinstance(x, str) for x in self.labels),
             f"labels must be a list of at least two class names; received {self.labels!r}")
        need(isinstance(self.positive_label, str), "positive_label must be a string")
        need(isinstance(self.scope, dict), "scope must be an object (may be empty)")


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
