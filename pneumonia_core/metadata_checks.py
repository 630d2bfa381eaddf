"""Strict checks of every metadata field the app acts on (issue 16).

A hand-edited ``metadata.json`` must not change decisions silently: each field that steers a
decision is refused unless it is consistent and in a sane range. What the checks cannot judge
(a different but plausible threshold, say) is left to the folder pin
(:mod:`pneumonia_core.integrity`): such a folder runs only as an unverified model.

- size- and depth-bounded reading of the file is :mod:`pneumonia_core.metadata_json`'s;
- :func:`check_metadata`: labels, calibration, threshold, outputs, scope statistics;
- :func:`check_outputs_against_model`: the named outputs exist with the right shapes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from pneumonia_core.metadata import Calibration, MetadataError, ModelMetadata

#: Calibration methods the app implements (pneumonia_core.metadata.Calibration).
CALIBRATION_METHODS = ("temperature", "logistic")
#: Sane calibration slope (1 / temperature): fitted values sit near 1; a temperature of 100
#: (slope 0.01) would score every film near 0.5.
SCALE_RANGE = (0.1, 20.0)
#: Sane calibration offset (logit units).
MAX_OFFSET = 10.0
#: Outputs the app reads, and the number of non-batch dimensions each must have.
OUTPUT_RANKS = {"logit": 0, "cam": 2, "embedding": 1}
#: The out-of-scope image-statistics keys the guard reads.
PIXEL_SCOPE_KEYS = ("low", "high", "thumb_size", "layout_mean", "layout_components",
                    "layout_scale", "max_layout_residual", "max_layout_distance")


def _error(message: str) -> Exception:
    return MetadataError(message)


def _finite(value: Any) -> bool:
    if type(value) is float or type(value) is int:  # JSON numbers: skip the slow ABC check
        return math.isfinite(value)
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def _finite_list(value: Any, length: int | None = None) -> bool:
    if isinstance(value, np.ndarray):  # the guard's statistics from their binary file
        return (value.ndim == 1 and value.size > 0 and (length is None or value.size == length)
                and bool(np.isfinite(value).all()))
    if not (isinstance(value, list) and len(value) > 0
            and (length is None or len(value) == length)):
        return False
    if set(map(type, value)) <= {float, int}:  # JSON numbers (the guard's thousands): in C
        return all(map(math.isfinite, value))
    return all(_finite(v) for v in value)


def check_labels(meta: ModelMetadata) -> None:
    labels = list(meta.labels)
    if len(labels) != 2 or len(set(labels)) != 2 or not all(x.strip() for x in labels):
        raise _error(f"labels must be exactly two distinct class names (negative, positive); "
                     f"received {labels!r}")
    if meta.positive_label != labels[1]:
        raise _error(f"positive_label {meta.positive_label!r} must be the second label "
                     f"(labels {labels!r}): index 1 is the class the model's score is for")


def check_calibration(meta: ModelMetadata) -> None:
    """An explicit, implemented method (no default) whose map is sane: on top of the typed
    :class:`~pneumonia_core.metadata.Calibration` (finite numbers, positive scale), the slope
    ``scale`` = 1 / temperature must lie in :data:`SCALE_RANGE` and ``|offset|`` within
    :data:`MAX_OFFSET` (far outside, every film scores near 0.5 or near 0 / 1)."""

    method = meta.calibration.get("method")
    if method not in CALIBRATION_METHODS:
        raise _error(f"calibration.method {method!r} is not one this app implements "
                     f"({', '.join(CALIBRATION_METHODS)})")
    key = "temperature" if method == "temperature" else "scale"
    if key not in meta.calibration or (method == "logistic" and "offset" not in meta.calibration):
        raise _error(f"calibration ({method}) lacks its parameters: needs "
                     f"{'temperature' if method == 'temperature' else 'scale and offset'}")
    for name in ("temperature", "scale", "offset"):
        if name in meta.calibration and not _finite(meta.calibration[name]):
            raise _error(f"calibration.{name} must be a finite JSON number; received "
                         f"{meta.calibration[name]!r}")
    cal = Calibration.from_dict(meta.calibration)
    lo, hi = SCALE_RANGE
    if not lo <= cal.scale <= hi:
        if method == "temperature":
            raise _error(f"calibration.temperature must be a number in [{1 / hi:g}, {1 / lo:g}]; "
                         f"received {meta.calibration.get('temperature')!r}")
        raise _error(f"calibration.scale must be in [{lo:g}, {hi:g}]; received {cal.scale!r}")
    if abs(cal.offset) > MAX_OFFSET:
        raise _error(f"calibration.offset must be within +-{MAX_OFFSET:g}; received {cal.offset!r}")


def check_threshold(meta: ModelMetadata) -> None:
    value = meta.threshold.get("value")
    if not _finite(value) or not 0.0 < float(value) < 1.0:
        raise _error(f"threshold.value must be a finite number strictly between 0 and 1; "
                     f"received {value!r}")


def check_output_names(meta: ModelMetadata) -> None:
    names = []
    for key in OUTPUT_RANKS:
        spec = meta.outputs.get(key)
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str) \
                or not spec["name"]:
            raise _error(f"outputs.{key} must name the model output it reads")
        names.append(spec["name"])
    if len(set(names)) != len(names):
        raise _error(f"outputs logit, cam and embedding must name different model outputs; "
                     f"received {names}")


def check_scope(meta: ModelMetadata) -> None:
    """The out-of-scope guard's statistics: complete and finite (an empty or partial scope
    would switch checks off without a word)."""
    s = meta.scope
    problems: list[str] = []
    if not _finite(s.get("min_std")) or float(s["min_std"]) < 0:
        problems.append("min_std")
    mean, std = s.get("embedding_mean"), s.get("embedding_std")
    if not _finite_list(mean):
        problems.append("embedding_mean")
    if not _finite_list(std) or min(std) < 0:
        problems.append("embedding_std")
    elif _finite_list(mean) and len(mean) != len(std):
        problems.append("embedding_mean/embedding_std (different lengths)")
    if not _finite(s.get("max_distance")) or float(s["max_distance"]) <= 0:
        problems.append("max_distance")
    px = s.get("pixels")
    if not isinstance(px, Mapping):
        problems.append("pixels")
    else:
        problems += [f"pixels.{k}" for k in _pixel_problems(px, "embedding_pattern" in s)]
    if "embedding_pattern" in s:
        problems += [f"embedding_pattern.{k}" for k in _pattern_problems(s["embedding_pattern"],
                                                                          mean)]
    if problems:
        raise _error(f"scope statistics of the out-of-scope guard missing or not finite: "
                     f"{', '.join(problems)}; refusing a model whose guard would be off")


def _pattern_problems(pattern: Any, embedding_mean: Any) -> list[str]:
    """The feature-pattern check (issue 21, round 3): a mean as long as the feature
    statistics', components of that length, positive scales and limits."""
    if not isinstance(pattern, Mapping):
        return ["(not a mapping)"]
    bad = [k for k in ("mean", "components", "scale", "max_distance", "max_residual")
           if k not in pattern]
    if bad:
        return bad
    width = len(embedding_mean) if isinstance(embedding_mean, (list, np.ndarray)) else None
    if not _finite_list(pattern["mean"], width):
        bad.append("mean")
    comps = pattern["components"]
    if not (isinstance(comps, (list, np.ndarray)) and len(comps)
            and all(_finite_list(c, len(pattern["mean"])) for c in comps)):
        bad.append("components")
    elif not _finite_list(pattern["scale"], len(comps)) or min(pattern["scale"]) <= 0:
        bad.append("scale")
    return bad + [k for k in ("max_distance", "max_residual")
                  if not _finite(pattern[k]) or float(pattern[k]) <= 0]


def _pixel_problems(px: Mapping[str, Any], pattern_check: bool = False) -> list[str]:
    from pneumonia_core.scope import FIELD_RULES

    bad = [k for k in PIXEL_SCOPE_KEYS if k not in px]
    if bad:
        return bad
    bad = _range_problems(px["low"], px["high"], pattern_check)
    if "field" in px and px["field"] not in FIELD_RULES:  # else the whole image, unsaid
        bad.append("field (not a rule this app knows)")
    side = px["thumb_size"]
    if not isinstance(side, int) or isinstance(side, bool) or not 4 <= side <= 64:
        return [*bad, "thumb_size"]
    bad += _layout_problems(px, side)
    return bad + [key for key in ("max_layout_residual", "max_layout_distance")
                  if not _finite(px[key]) or float(px[key]) <= 0]


def _range_problems(low: Any, high: Any, pattern_check: bool = False) -> list[str]:
    """Each image statistic needs a finite ``low <= high`` range; only the acquisition-
    dependent ones (:data:`pneumonia_core.scope.ACQUISITION_DEPENDENT`, left out by a guard
    fitted for other sites' films) may be absent, and with the feature-pattern check
    (``pattern_check``) also the display and processing ones
    (:data:`pneumonia_core.scope.DISPLAY_AND_PROCESSING`), and the upper limit of those
    limited from below only (:data:`pneumonia_core.scope.LOWER_ONLY`); a range given must be
    valid."""
    from pneumonia_core.scope import (
        ACQUISITION_DEPENDENT,
        DISPLAY_AND_PROCESSING,
        LOWER_ONLY,
        PIXEL_FEATURES,
    )

    optional = ACQUISITION_DEPENDENT + (DISPLAY_AND_PROCESSING if pattern_check else ())
    if not (isinstance(low, Mapping) and isinstance(high, Mapping)):
        return [f"low/high[{name}]" for name in PIXEL_FEATURES]

    def valid(name: str) -> bool:
        if pattern_check and name in LOWER_ONLY and name in low and name not in high:
            return _finite(low[name])
        return (_finite(low.get(name)) and _finite(high.get(name))
                and float(low[name]) <= float(high[name]))

    return [f"low/high[{name}]" for name in PIXEL_FEATURES
            if (name not in optional or name in low or name in high) and not valid(name)]


def _layout_problems(px: Mapping[str, Any], side: int) -> list[str]:
    """The layout model: a ``side x side`` mean, components of that size, positive scales."""
    bad = []
    if not _finite_list(px["layout_mean"], side * side):
        bad.append("layout_mean")
    comps = px["layout_components"]
    if not (isinstance(comps, list) and comps and all(_finite_list(c, side * side) for c in comps)):
        bad.append("layout_components")
    elif not _finite_list(px["layout_scale"], len(comps)) or min(px["layout_scale"]) <= 0:
        bad.append("layout_scale")
    return bad


def check_metadata(meta: ModelMetadata) -> None:
    """Every check that needs only the metadata; raises MetadataError naming the field."""
    check_labels(meta)
    check_calibration(meta)
    check_threshold(meta)
    check_output_names(meta)
    check_scope(meta)  # its length against the model's embedding: check_outputs_against_model


def _core_shape(shape: list[int]) -> list[int]:
    """The shape without its leading batch dimension of one."""
    return list(shape[1:]) if shape and shape[0] == 1 else list(shape)


def check_outputs_against_model(meta: ModelMetadata, model_outputs: Mapping[str, Any]) -> None:
    """Each named output exists in the model with the shape its role needs and the shape the
    metadata declares; ``model_outputs`` maps output name -> shape. Raises MetadataError."""
    for key, rank in OUTPUT_RANKS.items():
        name = meta.outputs[key]["name"]
        if name not in model_outputs:
            raise _error(f"Model has no output {name!r} for {key!r}; outputs are "
                         f"{sorted(model_outputs)}")
        shape = [int(x) for x in model_outputs[name]]
        core = _core_shape(shape)
        if key == "logit":
            ok = math.prod(core) == 1
        else:
            ok = len(core) == rank and all(d > 0 for d in core)
        if not ok:
            need = {"logit": "one value", "cam": "a 2-D map", "embedding": "a 1-D vector"}[key]
            raise _error(f"outputs.{key} names model output {name!r} of shape {shape}; "
                         f"{key} must be {need}")
        declared = meta.outputs[key].get("shape")
        if declared is not None and list(declared) != shape:
            raise _error(f"outputs.{key}.shape {declared} does not match the model's {shape}")
    emb = math.prod(_core_shape([int(x) for x in model_outputs[meta.outputs["embedding"]["name"]]]))
    if len(meta.scope.get("embedding_mean", [])) != emb:
        raise _error(f"scope.embedding_mean has {len(meta.scope.get('embedding_mean', []))} "
                     f"values; the model's embedding has {emb}")
