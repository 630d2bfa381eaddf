"""The decision: calibration of the model's logit, the threshold and the labels, in one object.

:class:`OperatingPoint` is the ONE place where a calibrated probability becomes a label: a case
is positive when ``P >= threshold`` (:func:`at_or_above`). The app, the batch command, the
training and converter metrics and the benchmark all decide through it, so the rule, the
positive label and the default threshold exist once.

Calibration is an affine map of the logit before the logistic function,
``P = sigmoid(scale * logit + offset)``; temperature scaling with temperature ``T`` is
``scale = 1 / T, offset = 0``. Plain numpy and math: no Qt, no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pneumonia_core.formatting import format_threshold

#: The threshold used when no model (hence no metadata threshold) is available, e.g. the
#: window's probability bar before a model loads. Never used to classify: no model, no result.
FALLBACK_THRESHOLD = 0.5
#: Labels when no model metadata says otherwise (index 0 negative).
DEFAULT_LABELS: tuple[str, ...] = ("NORMAL", "PNEUMONIA")
DEFAULT_POSITIVE_LABEL = "PNEUMONIA"


def sigmoid(x: Any) -> np.ndarray:
    """Numerically stable logistic function of a number or array (returns an array)."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def calibrated(logits: Any, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """THE calibration formula ``sigmoid(scale * logit + offset)`` of a number or array (returns
    an array). :class:`OperatingPoint` computes every probability with it; code that has a
    calibration but no threshold yet (the fitters, a reliability plot) calls it directly."""
    return sigmoid(float(scale) * np.asarray(logits, dtype=np.float64) + float(offset))


def at_or_above(probs: Any, threshold: float) -> Any:
    """THE decision rule: positive when the calibrated probability is at or above threshold.

    Works on a number (returns bool) or an array (returns a boolean array)."""
    if isinstance(probs, (int, float)):
        return float(probs) >= threshold
    return np.asarray(probs, dtype=np.float64) >= threshold


@dataclass(frozen=True)
class OperatingPoint:
    """Calibration + threshold + labels: everything that turns a logit into a decision."""

    threshold: float
    scale: float = 1.0
    offset: float = 0.0
    labels: tuple[str, ...] = DEFAULT_LABELS
    positive_label: str = DEFAULT_POSITIVE_LABEL
    source: str = "model default"
    description: str = ""
    #: The out-of-scope guard's statistics in force with this decision when they are not the
    #: model's own (a site profile's guard, :mod:`pneumonia_core.site_guard`); None: the model's.
    scope: dict[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        t = self.threshold
        if not (isinstance(t, (int, float)) and math.isfinite(t) and 0.0 < t < 1.0):
            raise ValueError(f"threshold must lie strictly between 0 and 1; received {t!r}")
        if not (math.isfinite(self.scale) and self.scale > 0 and math.isfinite(self.offset)):
            raise ValueError(f"calibration needs a finite scale > 0 and a finite offset; "
                             f"received scale {self.scale!r}, offset {self.offset!r}")
        object.__setattr__(self, "labels", tuple(self.labels))
        if len(self.labels) < 2 or self.positive_label not in self.labels:
            raise ValueError(f"positive_label {self.positive_label!r} not in labels {self.labels}")

    @classmethod
    def from_temperature(cls, threshold: float, temperature: float = 1.0, **kw: Any
                         ) -> OperatingPoint:
        return cls(threshold=threshold, scale=1.0 / float(temperature), offset=0.0, **kw)

    @classmethod
    def fallback(cls) -> OperatingPoint:
        """The point used when no model is loaded (nothing is classified with it)."""
        return cls(FALLBACK_THRESHOLD, source="no model", description="no model loaded")

    # -- derived -----------------------------------------------------------------------
    @property
    def negative_label(self) -> str:
        """The label of a case below threshold (binary models: the other label)."""
        return next(lab for lab in self.labels if lab != self.positive_label)

    @property
    def temperature(self) -> float:
        """The equivalent temperature (only meaningful when ``offset == 0``)."""
        return 1.0 / self.scale

    def summary(self) -> str:
        """Short human description, e.g. ``threshold 35.2% (model default)``."""
        text = f"threshold {format_threshold(self.threshold)} ({self.source})"
        return f"{text}: {self.description}" if self.description else text

    # -- the decision ------------------------------------------------------------------
    def probability(self, logit: float) -> float:
        """Calibrated P(positive) from the model's raw logit."""
        return float(calibrated(float(logit), self.scale, self.offset))

    def probabilities(self, logits: Any) -> np.ndarray:
        """Vectorised :meth:`probability`."""
        return calibrated(logits, self.scale, self.offset)

    def is_positive(self, probability: float) -> bool:
        return bool(at_or_above(float(probability), self.threshold))

    def positives(self, probs: Any) -> np.ndarray:
        """Boolean array: which calibrated probabilities are positive decisions."""
        return at_or_above(np.asarray(probs, dtype=np.float64), self.threshold)

    def decide(self, probability: float) -> str:
        """The predicted label of one calibrated probability."""
        return self.positive_label if self.is_positive(probability) else self.negative_label

    def with_threshold(self, threshold: float, source: str = "override",
                       description: str = "") -> OperatingPoint:
        """The same calibration and labels at another threshold."""
        if float(threshold) == self.threshold and source == self.source:
            return self
        return replace(self, threshold=float(threshold), source=source, description=description)
