"""The one decision rule: OperatingPoint, typed metadata sections, and the Result it drives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pneumonia_core.decision import FALLBACK_THRESHOLD, OperatingPoint
from pneumonia_core.metadata import Calibration, MetadataError, ModelMetadata, Threshold
from pneumonia_core.pipeline import STATUS_OK, Result


def test_rule_is_at_or_above_and_vectorised_the_same() -> None:
    op = OperatingPoint(0.4, labels=("NORMAL", "PNEUMONIA"), positive_label="PNEUMONIA")
    assert op.is_positive(0.4) and not op.is_positive(0.39999)
    assert op.decide(0.4) == "PNEUMONIA" and op.decide(0.1) == "NORMAL"
    probs = np.array([0.1, 0.39999, 0.4, 0.9])
    assert op.positives(probs).tolist() == [op.is_positive(p) for p in probs]


def test_positive_label_not_position_decides() -> None:
    op = OperatingPoint(0.5, labels=("PNEUMONIA", "NORMAL"), positive_label="PNEUMONIA")
    assert op.decide(0.7) == "PNEUMONIA" and op.decide(0.2) == "NORMAL"
    with pytest.raises(ValueError, match="positive_label"):
        OperatingPoint(0.5, positive_label="COVID")


def test_calibration_temperature_and_logistic() -> None:
    t = OperatingPoint.from_temperature(0.5, temperature=2.0)
    assert t.probability(2.0) == pytest.approx(1 / (1 + math.exp(-1.0)))
    a = OperatingPoint(0.5, scale=0.5, offset=-1.0)
    assert a.probability(4.0) == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert a.probabilities([4.0, -800.0]).tolist() == pytest.approx([a.probability(4.0), 0.0])


def test_with_threshold_keeps_calibration_and_labels() -> None:
    op = OperatingPoint(0.35, scale=0.8, offset=0.1, description="rule")
    other = op.with_threshold(0.6)
    assert (other.threshold, other.scale, other.offset, other.labels) == (0.6, 0.8, 0.1, op.labels)
    assert other.source == "override" and op.threshold == 0.35  # frozen: a new object
    with pytest.raises(ValueError, match="threshold"):
        op.with_threshold(1.0)
    assert OperatingPoint.fallback().threshold == FALLBACK_THRESHOLD


def _meta(**over) -> dict:
    d = {"schema_version": 1, "name": "m", "version": "1", "created": "2026", "sha256": "a" * 64,
         "input": {"shape": [1, 224, 224, 1]}, "outputs": {"logit": {"name": "logit"}},
         "threshold": {"value": 0.35, "rule": "r"},
         "calibration": {"method": "temperature", "temperature": 2.0}}
    d.update(over)
    return d


def test_metadata_builds_the_model_default_operating_point() -> None:
    meta = ModelMetadata.from_dict(_meta())
    op = meta.operating_point()
    assert (op.threshold, op.scale, op.offset, op.source) == (0.35, 0.5, 0.0, "model default")
    assert op.positive_label == meta.positive_label and op.labels == tuple(meta.labels)
    assert meta.probability(1.3) == op.probability(1.3)
    logistic = ModelMetadata.from_dict(_meta(calibration={"method": "logistic", "scale": 0.7,
                                                          "offset": -0.2}))
    assert logistic.operating_point().probability(1.0) == pytest.approx(
        1 / (1 + math.exp(-(0.7 - 0.2))))


@pytest.mark.parametrize("cal, match", [
    ({"method": "isotonic"}, "unknown"),
    ({"method": "temperature", "temperature": 0}, "> 0"),
    ({"method": "logistic", "scale": "x"}, "number"),
])
def test_bad_calibration_is_a_metadata_error(cal, match) -> None:
    with pytest.raises(MetadataError, match=match):
        ModelMetadata.from_dict(_meta(calibration=cal))
    with pytest.raises(MetadataError, match=match):
        Calibration.from_dict(cal)


def test_threshold_section_is_typed() -> None:
    assert Threshold.from_dict({"value": 0.3, "rule": "x"}).value == 0.3
    with pytest.raises(MetadataError, match="threshold.value"):
        Threshold.from_dict({"value": 1.5})


def test_result_flag_follows_the_decision_not_a_label_literal() -> None:
    assert Result("a", STATUS_OK, 0.9, "SICK", positive=True).flagged
    assert not Result("a", STATUS_OK, 0.1, "PNEUMONIA", positive=False).flagged
    assert Result("a", "error").flagged
