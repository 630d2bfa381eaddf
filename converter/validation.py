"""Validation of the converted model against the Keras model on the validation split.

Both models see the same images, loaded by :func:`pneumonia_core.imageio.load_image`; the
TFLite side runs through :class:`pneumonia_core.runtime.TFLiteRunner`, the runner the app
uses. The same temperature calibrates both logits. The conversion is refused when the
converted model's ROC AUC is more than :data:`MAX_AUC_DROP` below the Keras model's or when
the two decide differently at the threshold on more than 1 - :data:`MIN_AGREEMENT` of the
images the Keras model does not call borderline. Borderline: its calibrated logit lies within
:data:`AGREEMENT_BAND` of the threshold's logit, where quantization noise may decide either
way (a weak model's threshold sits where the scores are dense, e.g. a 3-epoch run's 0.074);
those flips are counted and reported, not refused. The int8 logit is the float mean of the
CAM (converter.tflite_export), so agreement is measured on full-resolution scores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from converter.run_source import Sample
from pneumonia_core import metrics
from pneumonia_core.decision import at_or_above, calibrated
from pneumonia_core.imageio import ImageLoadError, load_image
from pneumonia_core.runtime import TFLiteRunner

log = logging.getLogger(__name__)

MAX_AUC_DROP = 0.005
MIN_AGREEMENT = 0.99
AGREEMENT_BAND = 0.5  # calibrated logit units around the threshold's logit (odds x/÷ 1.65)

Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class Scores:
    """Per-image outputs of one model: logits, calibrated probabilities, CAMs, embeddings."""

    logits: np.ndarray
    probs: np.ndarray
    cams: np.ndarray | None  # None for a model without a CAM output (seed baseline)
    embeddings: np.ndarray


def load_images(samples: Sequence[Sample], size: int, channels: int = 1,
                progress: Progress = _no_progress, stage: str = "loading images"
                ) -> tuple[np.ndarray, np.ndarray, list[Sample]]:
    """(N, S, S, C) float32 raw pixels, labels, and the samples that loaded. Files that fail
    are logged with their reason and skipped."""
    images, labels, kept = [], [], []
    for i, sample in enumerate(samples):
        try:
            gray = load_image(sample.path, size)
        except ImageLoadError as exc:
            log.warning("skipping %s: %s", sample.path, exc)
            continue
        finally:
            progress(stage, i + 1, len(samples))
        images.append(gray)
        labels.append(sample.label)
        kept.append(sample)
    if not images:
        raise ValueError(f"none of the {len(samples)} images could be loaded")
    x = np.stack(images).astype(np.float32)[..., None]
    if channels == 3:
        x = np.repeat(x, 3, axis=-1)
    return x, np.asarray(labels, np.int64), kept


def keras_scores(export_model: Any, x: np.ndarray, temperature: float, batch_size: int = 32,
                 progress: Progress = _no_progress) -> Scores:
    logits, cams, embs = [], [], []
    for start in range(0, len(x), batch_size):
        out = export_model(x[start : start + batch_size], training=False)
        logits.append(np.asarray(out["logit"]).reshape(-1))
        if "cam" in out:
            cams.append(np.asarray(out["cam"]))
        embs.append(np.asarray(out["embedding"]))
        progress("Keras model", min(start + batch_size, len(x)), len(x))
    lg = np.concatenate(logits).astype(np.float64)
    return Scores(lg, calibrated(lg, 1.0 / temperature),
                  np.concatenate(cams) if cams else None, np.concatenate(embs))


def tflite_scores(model: bytes | str, x: np.ndarray, temperature: float,
                  progress: Progress = _no_progress, stage: str = "TFLite model") -> Scores:
    runner = TFLiteRunner(model, num_threads=2)
    logits, cams, embs = [], [], []
    for i, image in enumerate(x):
        out = runner.run(image[None])
        logits.append(float(np.ravel(out["logit"])[0]))
        if "cam" in out:
            cams.append(np.asarray(out["cam"])[0])
        embs.append(np.ravel(out["embedding"]) if "embedding" in out else np.zeros(1))
        progress(stage, i + 1, len(x))
    lg = np.asarray(logits, np.float64)
    return Scores(lg, calibrated(lg, 1.0 / temperature), np.stack(cams) if cams else None,
                  np.stack(embs))


def summarize(labels: np.ndarray, scores: Scores, threshold: float, n_bins: int = 15
              ) -> dict[str, float]:
    sens, spec = metrics.sensitivity_specificity(labels, scores.probs, threshold)
    return {
        "roc_auc": metrics.roc_auc(labels, scores.probs),
        "sensitivity": sens,
        "specificity": spec,
        "ece": metrics.expected_calibration_error(labels, scores.probs, n_bins),
        "ece_uncalibrated": metrics.expected_calibration_error(
            labels, metrics.sigmoid(scores.logits), n_bins),
    }


@dataclass
class ValidationReport:
    quantization: str
    threshold: float
    temperature: float
    n_images: int
    n_positive: int
    n_negative: int
    keras: dict[str, float]
    converted: dict[str, float]
    agreement: float  # over all images
    max_abs_delta_probability: float
    mean_abs_delta_probability: float
    auc_drop: float
    cam_correlation_mean: float | None  # None when the model has no CAM output
    cam_correlation_min: float | None
    ece_bins: int = 15
    failures: list[str] = field(default_factory=list)
    max_auc_drop: float = MAX_AUC_DROP
    min_agreement: float = MIN_AGREEMENT
    # The gated figure: agreement over images outside the borderline band, and the flips
    # inside it (reported, not refused).
    agreement_outside_band: float = 1.0
    n_outside_band: int = 0
    borderline_flips: int = 0
    agreement_band: float = AGREEMENT_BAND
    distinct_probabilities: int = 0  # of the converted model, on these images

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"passed": self.passed}

    def cam_text(self) -> str:
        if self.cam_correlation_mean is None or self.cam_correlation_min is None:
            return "n/a (no cam output)"
        return f"{self.cam_correlation_mean:.3f} ({self.cam_correlation_min:.3f})"

    def table(self) -> str:
        """The comparison as a Markdown table (also readable on a terminal)."""
        q = self.quantization
        k, c = self.keras, self.converted
        rows = [
            ("ROC AUC", f"{k['roc_auc']:.4f}", f"{c['roc_auc']:.4f}"),
            (f"sensitivity @ {self.threshold:.4f}", f"{k['sensitivity']:.4f}", f"{c['sensitivity']:.4f}"),
            (f"specificity @ {self.threshold:.4f}", f"{k['specificity']:.4f}", f"{c['specificity']:.4f}"),
            (f"ECE ({self.ece_bins} bins, calibrated)", f"{k['ece']:.4f}", f"{c['ece']:.4f}"),
            (f"ECE ({self.ece_bins} bins, uncalibrated)", f"{k['ece_uncalibrated']:.4f}", f"{c['ece_uncalibrated']:.4f}"),
        ]
        lines = [
            f"Validation split: {self.n_images} images ({self.n_positive} PNEUMONIA, "
            f"{self.n_negative} NORMAL), temperature {self.temperature:.4f}",
            "",
            f"| metric | Keras float32 | TFLite {q} |",
            "|---|---:|---:|",
            *[f"| {a} | {b} | {v} |" for a, b, v in rows],
            "",
            "| agreement check | value | limit |",
            "|---|---:|---:|",
            f"| decision agreement at the threshold, {self.n_outside_band} images outside "
            f"+-{self.agreement_band} logit of it | {self.agreement_outside_band:.2%} | "
            f">= {self.min_agreement:.0%} |",
            f"| decision agreement, all images ({self.borderline_flips} borderline flips) | "
            f"{self.agreement:.2%} | |",
            f"| distinct probabilities (converted) | {self.distinct_probabilities} of "
            f"{self.n_images} | |",
            f"| ROC AUC drop | {self.auc_drop:+.4f} | <= {self.max_auc_drop} |",
            f"| max abs delta probability | {self.max_abs_delta_probability:.4f} | |",
            f"| mean abs delta probability | {self.mean_abs_delta_probability:.4f} | |",
            f"| heatmap correlation, mean (min) | {self.cam_text()} | |",
            "",
            "PASSED" if self.passed else "FAILED: " + "; ".join(self.failures),
        ]
        return "\n".join(lines)


def compare(labels: np.ndarray, keras: Scores, converted: Scores, threshold: float,
            temperature: float, quantization: str, n_bins: int = 15) -> ValidationReport:
    """Compare the two models' outputs on the same images and apply the gate."""
    n_pos = int(np.sum(np.asarray(labels) == 1))
    if n_pos == 0 or n_pos == len(labels):
        raise ValueError(f"the gate's ROC AUC needs both classes; received {n_pos} positive "
                         f"and {len(labels) - n_pos} negative labels")
    k = summarize(labels, keras, threshold, n_bins)
    c = summarize(labels, converted, threshold, n_bins)
    same = at_or_above(keras.probs, threshold) == at_or_above(converted.probs, threshold)
    agree = float(np.mean(same))
    # borderline: the Keras calibrated logit within the band of the threshold's logit
    z_thr = float(np.log(threshold / (1.0 - threshold)))
    k_logit = np.log(np.clip(keras.probs, 1e-15, 1.0)) - np.log(np.clip(1.0 - keras.probs, 1e-15, 1.0))
    outside = np.abs(k_logit - z_thr) > AGREEMENT_BAND
    agree_outside = float(np.mean(same[outside])) if outside.any() else 1.0
    delta = np.abs(keras.probs - converted.probs)
    cam_r = None
    if keras.cams is not None and converted.cams is not None:
        cam_r = np.array([metrics.pearson(a, b)
                          for a, b in zip(keras.cams, converted.cams, strict=True)])
    report = ValidationReport(
        quantization=quantization,
        threshold=float(threshold),
        temperature=float(temperature),
        n_images=int(len(labels)),
        n_positive=int(np.sum(labels == 1)),
        n_negative=int(np.sum(labels == 0)),
        keras=k,
        converted=c,
        agreement=agree,
        max_abs_delta_probability=float(delta.max()),
        mean_abs_delta_probability=float(delta.mean()),
        auc_drop=float(k["roc_auc"] - c["roc_auc"]),
        cam_correlation_mean=None if cam_r is None else float(cam_r.mean()),
        cam_correlation_min=None if cam_r is None else float(cam_r.min()),
        ece_bins=n_bins,
        agreement_outside_band=agree_outside,
        n_outside_band=int(outside.sum()),
        borderline_flips=int(np.sum(~same & ~outside)),
        distinct_probabilities=int(np.unique(converted.probs).size),
    )
    if report.auc_drop > MAX_AUC_DROP:
        report.failures.append(
            f"ROC AUC dropped by {report.auc_drop:.4f} ({k['roc_auc']:.4f} -> {c['roc_auc']:.4f}); "
            f"the limit is {MAX_AUC_DROP}"
        )
    if agree_outside < MIN_AGREEMENT:
        report.failures.append(
            f"decision agreement at threshold {threshold:.4f} is {agree_outside:.2%} on the "
            f"{report.n_outside_band} images outside +-{AGREEMENT_BAND} logit of it; at least "
            f"{MIN_AGREEMENT:.0%} is required"
        )
    return report
