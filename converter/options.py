"""The converter's options (:func:`converter.convert.convert_run`), apart from the conversion
code so the model card can name them without importing the converter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converter.external import EXTERNAL_TARGET_SENSITIVITY
from converter.tflite_export import DEFAULT_QUANTIZATION


@dataclass
class ConvertOptions:
    quantization: str = DEFAULT_QUANTIZATION
    calibration_images: int = 300
    scope_images: int = 1000  # training images for the out-of-scope statistics
    force: bool = False
    name: str = "pneumonia-cnn"
    version: str = "1.0.0"
    baseline: Path | None = None
    experiments: Path | None = None  # an experiment log to include in the card (Markdown)
    measure_scope: bool = True
    seed: int = 0
    # Re-apply the run's threshold rule to the CONVERTED model's calibrated validation
    # probabilities (quantization can move a deciding case across the run's threshold).
    rethreshold: bool = False
    # An external labelled folder (NORMAL/, PNEUMONIA/) scored through the app's own path and
    # reported next to the validation split; with fit_on_external the shipped calibration
    # (logistic) and threshold are fitted on it, and the card says so.
    external: Path | None = None
    external_name: str | None = None
    fit_on_external: bool = False
    external_target_sensitivity: float = EXTERNAL_TARGET_SENSITIVITY
    selected_on_external: bool = False  # the recipe was chosen by its results on the set
    shift_results: Path | None = None  # bench/shift_suite.py --summary file (card section)

    @property
    def external_usage(self) -> str:
        used = (["selection"] if self.selected_on_external else []) + (
            ["calibration and threshold"] if self.fit_on_external else [])
        return ", ".join(used) if used else "untouched"
