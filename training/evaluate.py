"""Calibration, threshold selection and reports for a run folder.

``calibrate(run)`` fits temperature scaling on the validation logits and picks the threshold
(highest specificity with sensitivity >= target) on the calibrated validation probabilities.
``evaluate(run, split)`` writes ``report.json``/``report.md`` and plots for any split; the
threshold always comes from validation, never from the split being reported.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from pneumonia_core.calibration import choose_threshold, fit_temperature
from pneumonia_core.decision import calibrated
from pneumonia_core.metrics import (  # noqa: F401  (compute_metrics is part of this module's API)
    REPORT_KEYS,
    classification_summary,
    compute_metrics,
    expected_calibration_error,
    sigmoid,
)
from training import data as D
from training import run as R

log = logging.getLogger(__name__)


def split_samples(run: R.Run, split: str) -> list[tuple[Path, int]]:
    if split in ("train", "val"):
        return run.split[split]
    if split == "test":
        samples = D.scan_split(run.data_root, "test")
        return [(s.path, s.label) for s in samples]
    raise ValueError(f"unknown split {split!r}; choose train, val or test")


def split_logits(run: R.Run, split: str, cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(labels, logits) of the run's best checkpoint on a split."""
    from training.train import predict_logits

    entries = split_samples(run, split)
    labels = np.array([label for _, label in entries], dtype=np.int64)
    x = D.load_arrays([p for p, _ in entries], run.image_size, cache_dir)[..., None]
    log.info("predicting %d %s images", len(entries), split)
    return labels, predict_logits(run.model, x)


def calibrate(run: R.Run, cache_dir: Path | None = None) -> dict[str, Any]:
    """Fit T on validation logits; write calibration.json and threshold.json."""
    logits_path = run.run_dir / R.VAL_LOGITS_FILE
    if logits_path.is_file():
        logits = np.load(logits_path)
        labels = np.array([label for _, label in run.split["val"]], dtype=np.int64)
    else:
        labels, logits = split_logits(run, "val", cache_dir)
    n_bins = run.config.ece_bins
    temperature = fit_temperature(labels, logits)
    before = expected_calibration_error(labels, sigmoid(logits), n_bins)
    after = expected_calibration_error(labels, calibrated(logits, 1.0 / temperature), n_bins)
    calib = {"method": "temperature", "temperature": temperature, "ece_before": before,
             "ece_after": after, "fitted_on": "val", "n": int(labels.size)}
    R.write_json(run.run_dir / R.CALIBRATION_FILE, calib)
    thr = choose_threshold(labels, calibrated(logits, 1.0 / temperature), run.config.target_sensitivity)
    R.write_json(run.run_dir / R.THRESHOLD_FILE, R.clean_nan(thr))
    run.calibration, run.threshold_info = calib, thr
    log.info("temperature %.3f (ECE %.4f -> %.4f); threshold %.4f gives sensitivity %.4f, "
             "specificity %.4f on val", temperature, before, after, thr["value"],
             thr["sensitivity"], thr["specificity"])
    return {"calibration": calib, "threshold": thr}


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def report_markdown(run: R.Run, split: str, report: dict[str, Any]) -> str:
    cm = report["confusion_matrix"]
    cfg = run.config
    suffix = "" if split == "val" else f"_{split}"
    lines = [
        f"# Evaluation report: {run.run_dir.name} ({split} split)",
        "",
        f"Config `{cfg.name}` ({cfg.architecture}, {cfg.image_size}x{cfg.image_size}x{cfg.channels}), "
        f"digest `{run.provenance.get('config_digest', '')}`, git `{run.provenance.get('git_commit', '')}`, "
        f"data fingerprint `{run.provenance.get('data_fingerprint', '')[:16]}`.",
        "",
        f"{report['n']} images ({report['n_positive']} PNEUMONIA). Probabilities are calibrated "
        f"(temperature T = {run.temperature:.3f} fitted on the validation split).",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key in REPORT_KEYS:
        if key != "confusion_matrix":
            lines.append(f"| {key} | {_fmt(report[key])} |")
    thr = run.threshold_info
    lines += [
        "",
        "Confusion matrix (rows true, columns predicted):",
        "",
        "| | predicted NORMAL | predicted PNEUMONIA |",
        "|---|---|---|",
        f"| true NORMAL | {cm['tn']} (TN) | {cm['fp']} (FP) |",
        f"| true PNEUMONIA | {cm['fn']} (FN) | {cm['tp']} (TP) |",
        "",
        f"Threshold rule: {thr.get('rule', '')}. Target sensitivity "
        f"{_fmt(thr.get('target_sensitivity'))}; on validation it gave threshold "
        f"{_fmt(thr.get('value'))}, sensitivity {_fmt(thr.get('sensitivity'))}, specificity "
        f"{_fmt(thr.get('specificity'))}.",
        "",
        f"Calibration: ECE {_fmt(run.calibration.get('ece_before'))} before and "
        f"{_fmt(run.calibration.get('ece_after'))} after temperature scaling (validation, "
        f"{cfg.ece_bins} equal-width bins). PR AUC is average precision.",
        "",
        f"![learning curves](plots/learning_curves.png) ![ROC](plots/roc{suffix}.png)",
        f"![confusion matrix](plots/confusion_matrix{suffix}.png) "
        f"![reliability](plots/reliability{suffix}.png)",
        "",
    ]
    return "\n".join(lines)


def evaluate(run: R.Run, split: str = "val", cache_dir: Path | None = None) -> dict[str, Any]:
    """Metrics + report + plots of the calibrated model on ``split``; returns the report."""
    from training import plots
    from training.train import read_history

    if not run.calibration or not run.threshold_info:
        calibrate(run, cache_dir)
    labels, logits = split_logits(run, split, cache_dir)
    probs = run.probabilities(logits)
    report = compute_metrics(labels, probs, run.threshold, run.config.ece_bins)
    report.update({"split": split, "temperature": run.temperature,
                   "threshold_rule": run.threshold_info.get("rule"),
                   "ece_uncalibrated": expected_calibration_error(labels, sigmoid(logits),
                                                                  run.config.ece_bins),
                   "config_digest": run.provenance.get("config_digest")})
    suffix = "" if split == "val" else f"_{split}"
    report_json = R.REPORT_FILE if split == "val" else f"report_{split}.json"
    report_md = R.REPORT_MD if split == "val" else f"report_{split}.md"
    R.write_json(run.run_dir / report_json, R.clean_nan(report))
    (run.run_dir / report_md).write_text(report_markdown(run, split, report))
    pdir = run.run_dir / R.PLOTS_DIR
    history = read_history(run.run_dir / R.HISTORY_FILE)
    if history:
        best = max(history, key=lambda r: (r["val_roc_auc"] if np.isfinite(r["val_roc_auc"]) else -1))
        plots.learning_curves(history, pdir / "learning_curves.png", int(best["epoch"]))
    if len(set(labels.tolist())) == 2:
        plots.roc_plot(labels, probs, pdir / f"roc{suffix}.png", report["roc_auc"],
                       (report["sensitivity"], report["specificity"]), f"ROC ({split})")
    plots.confusion_plot(report["confusion_matrix"], pdir / f"confusion_matrix{suffix}.png",
                         f"Confusion matrix ({split}, threshold {run.threshold:.3f})")
    plots.reliability_plot(labels, probs, pdir / f"reliability{suffix}.png", report["ece"],
                           run.config.ece_bins, sigmoid(logits), f"Reliability ({split})")
    log.info("%s: ROC AUC %s  sensitivity %s  specificity %s  ECE %s  -> %s", split,
             _fmt(report["roc_auc"]), _fmt(report["sensitivity"]), _fmt(report["specificity"]),
             _fmt(report["ece"]), run.run_dir / report_json)
    return report


USAGES = ("untouched", "selection", "threshold", "calibration")


def folder_samples(folder: Path) -> list[tuple[Path, int]]:
    """``(path, label)`` of every image in ``folder/{NORMAL,PNEUMONIA}`` (any labelled folder)."""
    folder = Path(folder).resolve()
    return [(s.path, s.label) for s in D.scan_split(folder.parent, folder.name)]


def external_logits(run: R.Run, folder: Path, cache_dir: Path | None = None
                    ) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """(labels, logits, paths) of the run's best checkpoint on an external labelled folder."""
    from training.train import predict_logits

    entries = folder_samples(folder)
    labels = np.array([label for _, label in entries], dtype=np.int64)
    x = D.load_arrays([p for p, _ in entries], run.image_size, cache_dir)[..., None]
    log.info("predicting %d images of %s", len(entries), folder)
    return labels, predict_logits(run.model, x), [p for p, _ in entries]


def _ci(report: dict[str, Any], key: str) -> str:
    """``value (low-high)`` of a :func:`classification_summary` entry."""
    v = report[key]
    return f"{_fmt(v['value'])} ({_fmt(v['ci_low'])}-{_fmt(v['ci_high'])})"


def summary_with_intervals(labels: np.ndarray, probs: np.ndarray, threshold: float,
                           n_bins: int) -> dict[str, Any]:
    """:func:`pneumonia_core.metrics.classification_summary` plus ``ece`` at ``n_bins``."""
    out = classification_summary(labels, probs, threshold, ece_bins=sorted({10, 15, n_bins}))
    out["ece"] = out[f"ece_{n_bins}"]
    return out


def external_markdown(run: R.Run, name: str, usage: str, rows: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"# External evaluation: {run.run_dir.name} on {name}",
        "",
        f"Calibrated with T = {run.temperature:.3f} and decided at threshold "
        f"{run.threshold:.4f}, both from the validation split. How {name} was used: "
        f"**{usage}**. Intervals are 95%: exact (Clopper-Pearson) for sensitivity and "
        "specificity, bootstrap (2000 resamples, per class) for the ROC AUC.",
        "",
        "| set | n (pneumonia) | ROC AUC | sensitivity | specificity | ECE |",
        "|---|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        lines.append(f"| {label} | {r['n']} ({r['n_positive']}) | {_ci(r, 'roc_auc')} | "
                     f"{_ci(r, 'sensitivity')} | {_ci(r, 'specificity')} | {_fmt(r['ece'])} |")
    return "\n".join(lines) + "\n"


def evaluate_external(run: R.Run, folder: Path, name: str | None = None,
                      usage: str = "untouched", cache_dir: Path | None = None) -> dict[str, Any]:
    """The run on any labelled folder (``NORMAL/``, ``PNEUMONIA/``) next to its validation
    split, with 95% intervals; writes ``report_external_<name>.json``/``.md`` and the external
    logits (``external_<name>_logits.npy``, file order in the JSON)."""
    if usage not in USAGES:
        raise ValueError(f"usage must be one of {USAGES}; received {usage!r}")
    folder = Path(folder)
    name = name or folder.resolve().name
    if not run.calibration or not run.threshold_info:
        calibrate(run, cache_dir)
    labels, logits, paths = external_logits(run, folder, cache_dir)
    n_bins = run.config.ece_bins
    ext = summary_with_intervals(labels, run.probabilities(logits), run.threshold, n_bins)
    ext["ece_uncalibrated"] = expected_calibration_error(labels, sigmoid(logits), n_bins)
    val_logits_path = run.run_dir / R.VAL_LOGITS_FILE
    if val_logits_path.is_file():
        val_labels = np.array([label for _, label in run.split["val"]], dtype=np.int64)
        val_logits = np.load(val_logits_path)
    else:
        val_labels, val_logits = split_logits(run, "val", cache_dir)
    val = summary_with_intervals(val_labels, run.probabilities(val_logits), run.threshold, n_bins)
    report = {"name": name, "folder": folder.resolve().name, "usage": usage,
              "temperature": run.temperature, "threshold": run.threshold,
              "config_digest": run.provenance.get("config_digest"),
              "external": ext, "validation": val,
              "files": [p.relative_to(folder.resolve()).as_posix() for p in paths]}
    R.write_json(run.run_dir / f"report_external_{name}.json", R.clean_nan(report))
    np.save(run.run_dir / f"external_{name}_logits.npy", logits)
    rows = {"validation split (selection, threshold, calibration)": val,
            f"{name} ({usage})": ext}
    (run.run_dir / f"report_external_{name}.md").write_text(
        external_markdown(run, name, usage, rows))
    log.info("%s: ROC AUC %s, sensitivity %s, specificity %s, ECE %s (validation: ROC AUC %s, "
             "specificity %s)", name, _ci(ext, "roc_auc"), _ci(ext, "sensitivity"),
             _ci(ext, "specificity"), _fmt(ext["ece"]), _ci(val, "roc_auc"),
             _ci(val, "specificity"))
    return report
