"""Turn a training run into the model folder the app ships: ``model.tflite``,
``metadata.json``, ``MODEL_CARD.md``, ``validation.json``, ``recipe.json`` (the conversion
options), the run's report and plots.

``metadata.json`` is the single source of truth of the folder: the run's ``threshold.json`` and
``calibration.json`` are not copied (the converted model's threshold and calibration live in
the metadata, and may differ, e.g. with ``--rethreshold``). Nothing written holds an absolute
path of the machine that converted it (:func:`pneumonia_core.provenance.portable_path`).

Everything is built in a hidden temporary folder beside the destination and moved into place
only after the converted model has passed validation, so a refused conversion writes nothing.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from converter import external as external_set
from converter import model_card, model_folder, validation
from converter.options import ConvertOptions
from converter.reliability_plot import plot_reliability
from converter.run_source import RunSource, load_run_source
from converter.shift_card import load_results
from converter.tflite_export import OUTPUT_NAMES, QUANTIZATIONS, convert
from pneumonia_core.atomic_files import atomic_write_bytes, atomic_write_text
from pneumonia_core.calibration import DEFAULT_TARGET_SENSITIVITY, choose_threshold
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.imageio import RESIZE_METHOD
from pneumonia_core.metadata import MODEL_FILE, InputSpec, ModelMetadata, sha256_bytes
from pneumonia_core.metadata_checks import check_metadata
from pneumonia_core.provenance import portable_path
from pneumonia_core.scope import fit_scope_stats

log = logging.getLogger(__name__)

RECIPE_FILE = "recipe.json"
#: The run's files copied beside the model (its Keras-float evaluation report).
RUN_ARTIFACTS = ("report.json", "report.md")
MIN_PIXEL_STATS = 50  # pneumonia_core.scope.fit_pixel_stats needs at least this many images


class OutputExistsError(FileExistsError):
    """The destination model folder exists and is not empty (use ``force``)."""


class ConversionRefused(RuntimeError):
    """The converted model failed validation; nothing was written."""

    def __init__(self, report: validation.ValidationReport) -> None:
        self.report = report
        super().__init__(
            f"Conversion refused: the {report.quantization} model does not match the Keras model "
            f"on the validation split: {'; '.join(report.failures)}. Nothing was written."
        )


@dataclass
class ConversionResult:
    out: Path
    metadata: ModelMetadata
    report: validation.ValidationReport
    scope_evaluation: dict[str, Any]


def check_destination(out: Path, force: bool) -> None:
    """Refuse a non-empty destination unless ``force``; refuse a file in its place."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputExistsError(
            f"Model folder {out} already exists and is not empty; refusing to overwrite it. "
            "Pass --force to replace it."
        )


def training_draw(source: RunSource, n: int, seed: int) -> list:
    """A seeded random draw of ``n`` training images from the run's train split, in draw
    order: a shorter draw with the same seed is a prefix of a longer one."""
    rng = np.random.default_rng(seed)
    return [source.train[i] for i in rng.permutation(len(source.train))[: max(1, n)]]


def _install(tmp: Path, out: Path) -> None:
    """Move the finished folder into place; a replaced folder is removed only afterwards."""
    backup = None
    if out.exists():
        backup = out.with_name(f".{out.name}.replaced-{datetime.now():%Y%m%d%H%M%S}")
        out.rename(backup)
    try:
        tmp.rename(out)
    except OSError:
        if backup is not None:
            backup.rename(out)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def _copy_run_artifacts(run_dir: Path, dest: Path) -> list[str]:
    """The run's report and plots. Not its calibration.json/threshold.json: the shipped
    calibration and threshold live in metadata.json only (they may be fitted elsewhere)."""
    copied = []
    for name in RUN_ARTIFACTS:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, dest / name)
            copied.append(name)
    plots = sorted((run_dir / "plots").glob("*.png")) if (run_dir / "plots").is_dir() else []
    for p in plots:
        if p.stat().st_size <= 1_000_000:  # small PNGs only
            (dest / "plots").mkdir(exist_ok=True)
            shutil.copy2(p, dest / "plots" / p.name)
            copied.append(f"plots/{p.name}")
    return copied


def _jsonable(obj: Any) -> Any:
    """Plain JSON types from what another module returned (NumPy scalars/arrays, paths)."""
    def default(o: Any) -> Any:
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        return str(o)

    return json.loads(json.dumps(obj, default=default))


def recipe(options: ConvertOptions, source: RunSource) -> dict[str, Any]:
    """``recipe.json``: the conversion options, with file names instead of paths."""
    out: dict[str, Any] = {"run": source.run_dir.name}
    for key, value in asdict(options).items():
        if key == "force":
            continue
        out[key] = Path(value).name if isinstance(value, Path) else value
    return out


def portable_paths(obj: Any, root: Path | None) -> Any:
    """``obj`` with every absolute path string under a ``path`` key made portable
    (relative to the data root, else its last components)."""
    if isinstance(obj, dict):
        return {k: (portable_path(v, root) if k == "path" and isinstance(v, str)
                    else portable_paths(v, root)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [portable_paths(v, root) for v in obj]
    return obj


def _measure_scope(model_dir: Path, val_paths: list[Path]) -> dict[str, Any]:
    """The scope engineer's measurement, or a record of why it was not measured."""
    try:
        from converter.scope_eval import evaluate_scope
    except ImportError as exc:
        log.warning("out-of-scope guard not measured: converter.scope_eval unavailable (%s)", exc)
        return {"measured": False, "reason": f"converter.scope_eval is not available ({exc})"}
    try:
        result = evaluate_scope(model_dir, val_paths)
    except Exception as exc:  # another team's optional step must not sink a validated model
        log.warning("out-of-scope guard not measured: evaluate_scope failed: %s", exc)
        return {"measured": False, "reason": f"evaluate_scope failed: {type(exc).__name__}: {exc}"}
    return {"measured": True, **_jsonable(dict(result))}


def rethreshold(run_threshold: dict[str, Any], labels: np.ndarray, probs: np.ndarray
                ) -> dict[str, Any]:
    """The run's threshold rule applied to the converted model's calibrated probabilities."""
    target = float(run_threshold.get("target_sensitivity") or DEFAULT_TARGET_SENSITIVITY)
    chosen = dict(choose_threshold(labels, probs, target))
    chosen["rule"] = (f"{chosen.get('rule', '')} (re-applied to the converted model's "
                      f"probabilities; the training run chose {float(run_threshold['value']):.6f})")
    chosen["run_value"] = float(run_threshold["value"])
    log.info("threshold re-chosen on the converted model: %.6f (run: %.6f)", chosen["value"],
             chosen["run_value"])
    return chosen


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "n_positive", "n_negative", "sensitivity", "specificity", "roc_auc", "ece",
            "brier", "threshold", "usage", "name", "n_files", "n_not_classified",
            "distinct_probabilities")
    return {k: summary[k] for k in keys if k in summary}


def shipped_performance(meta: ModelMetadata, folder: Path, options: ConvertOptions,
                        y_val: np.ndarray, val_logits: np.ndarray, n_bins: int,
                        progress: validation.Progress) -> dict[str, Any]:
    """The shipped model at its shipped operating point, with 95% intervals: on the validation
    split and, with ``options.external``, on the external set scored through the app's path
    (the finished folder in ``folder``). With ``fit_on_external`` the calibration and threshold
    in ``meta`` are first fitted on the external set (``meta`` is updated, not saved)."""
    scores = None
    if options.external is not None:
        scores = external_set.score_folder(folder, options.external, options.external_name, progress)
        if options.fit_on_external:
            base = meta.operating_point()
            _, calibration, threshold = external_set.fit_operating_point(
                scores, base, options.external_target_sensitivity)
            threshold["run_value"] = float(meta.threshold.get("run_value",
                                                              meta.threshold["value"]))
            meta.calibration = calibration
            meta.threshold = threshold
            meta.validate()
    point = meta.operating_point()
    val = external_set.summarize(
        external_set.ExternalScores("validation split", [], np.asarray(y_val), np.asarray(val_logits),
                                ["ok"] * len(y_val)), point, "selection of the checkpoint"
        + ("" if options.fit_on_external else ", calibration and threshold"), n_bins)
    out: dict[str, Any] = {"validation": val}
    meta.validation["at_shipped_operating_point"] = _headline(val)
    if scores is not None:
        ext = external_set.summarize(scores, point, options.external_usage, n_bins)
        ext["uncalibrated_ece"] = float(external_set.summarize(
            scores, OperatingPoint(point.threshold), "", n_bins)["ece"])
        out["external"] = ext
        meta.validation["external"] = _headline(ext)
        log.info("external set %s (%s): ROC AUC %.4f [%.4f, %.4f], sensitivity %.4f [%.4f, "
                 "%.4f], specificity %.4f [%.4f, %.4f], ECE %.4f, %d distinct probabilities",
                 ext["name"], ext["usage"], *[ext[k][f] for k in ("roc_auc", "sensitivity",
                                                               "specificity")
                                              for f in ("value", "ci_low", "ci_high")],
                 ext["ece"], ext["distinct_probabilities"])
    return out


def build_metadata(source: RunSource, options: ConvertOptions, model_bytes: bytes,
                   report: validation.ValidationReport, runner_outputs: dict[str, list[int]],
                   scope: dict[str, Any]) -> ModelMetadata:
    s, c = source.input_size, source.channels
    thr = dict(source.threshold)
    threshold = {
        "value": float(thr["value"]),
        "rule": str(thr.get("rule", "")),
        "target_sensitivity": thr.get("target_sensitivity"),
        # Operating point of THIS converted model on the validation split:
        "sensitivity": report.converted["sensitivity"],
        "specificity": report.converted["specificity"],
        "run_sensitivity": thr.get("sensitivity"),
        "run_specificity": thr.get("specificity"),
    }
    if "run_value" in thr:
        threshold["run_value"] = thr["run_value"]
        threshold.pop("run_sensitivity")
        threshold.pop("run_specificity")
    config_file = source.config
    cfg = config_file.get("config", config_file)
    validation_facts = {
        "split": "validation (patient-grouped, carved from train/; see the run's split.json)",
        "n_images": report.n_images,
        "n_positive": report.n_positive,
        "n_negative": report.n_negative,
        "roc_auc": report.converted["roc_auc"],
        "sensitivity": report.converted["sensitivity"],
        "specificity": report.converted["specificity"],
        "ece": report.converted["ece"],
        "ece_uncalibrated": report.converted["ece_uncalibrated"],
        "agreement_with_keras": report.agreement,
        "max_abs_delta_probability": report.max_abs_delta_probability,
        "mean_abs_delta_probability": report.mean_abs_delta_probability,
        "cam_correlation_with_keras": report.cam_correlation_mean,
        "keras": dict(report.keras),
    }
    return ModelMetadata(
        name=options.name,
        version=options.version,
        created=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        sha256=sha256_bytes(model_bytes),
        input=InputSpec(name="image", shape=[1, s, s, c], dtype="float32", channels=c,
                        color="grayscale", value_range=[0.0, 255.0], resize=RESIZE_METHOD),
        outputs={k: {"name": k, "shape": runner_outputs[k]} for k in OUTPUT_NAMES
                 if k in runner_outputs},
        threshold=threshold,
        calibration={"method": "temperature", "temperature": source.temperature,
                     "fitted_on": "validation split logits (training run)",
                     "ece_before": report.converted["ece_uncalibrated"],
                     "ece_after": report.converted["ece"]},
        file=MODEL_FILE,
        quantization=options.quantization,
        validation=validation_facts,
        training={
            "config_digest": source.config_digest,
            "data_fingerprint": source.data_fingerprint,
            "git_commit": source.git_commit,
            "run": source.run_dir.name,
            "config": cfg,
            "n_train_images": len(source.train),
            "calibration_images": options.calibration_images if options.quantization == "int8" else 0,
            "scope_images": options.scope_images,
        },
        scope=scope,
    )


def convert_run(run_dir: str | Path, out: str | Path, options: ConvertOptions | None = None,
                progress: validation.Progress = validation._no_progress,
                calibration_override: np.ndarray | None = None) -> ConversionResult:
    """Convert, validate and write a model folder; see the module docstring.

    ``calibration_override`` replaces the representative images (tests use it to build a
    deliberately badly quantized model). Raises :class:`OutputExistsError`,
    :class:`ConversionRefused`, :class:`converter.run_source.RunError`.
    """
    options = options or ConvertOptions()
    if options.quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}; received {options.quantization!r}")
    out = Path(out).absolute()
    check_destination(out, options.force)
    source = load_run_source(run_dir)
    s, c = source.input_size, source.channels
    log.info("run %s: %dx%dx%d input, %d train / %d val images, T=%.4f, threshold %.4f",
             source.run_dir, s, s, c, len(source.train), len(source.val), source.temperature,
             float(source.threshold["value"]))

    # One draw of training images: its first N calibrate the int8 ranges, all of it fits the
    # out-of-scope statistics.
    n_draw = max(options.calibration_images, options.scope_images)
    train_x, _, _ = validation.load_images(training_draw(source, n_draw, options.seed), s, c,
                                           progress, "training images")
    if calibration_override is not None:
        calib = np.asarray(calibration_override, np.float32)
    else:
        calib = train_x[: options.calibration_images]

    def representative() -> Iterator[np.ndarray]:
        for image in calib:
            yield image[None]

    model_bytes = convert(source.export_model, options.quantization,
                          representative if options.quantization == "int8" else None)

    x_val, y_val, kept = validation.load_images(source.val, s, c, progress, "validation images")
    temp = source.temperature
    threshold = float(source.threshold["value"])
    keras_side = validation.keras_scores(source.export_model, x_val, temp, progress=progress)
    lite_side = validation.tflite_scores(model_bytes, x_val, temp, progress=progress)
    cfg = source.config.get("config", source.config)
    report = validation.compare(y_val, keras_side, lite_side, threshold, temp,
                                options.quantization, n_bins=int(cfg.get("ece_bins", 15)))
    log.info("validation of the converted model:\n%s", report.table())
    if not report.passed:
        raise ConversionRefused(report)
    if options.rethreshold:
        source.threshold = rethreshold(source.threshold, y_val, lite_side.probs)
        report = validation.compare(y_val, keras_side, lite_side, source.threshold["value"], temp,
                                    options.quantization, n_bins=int(cfg.get("ece_bins", 15)))
        log.info("validation at the re-chosen threshold:\n%s", report.table())
        if not report.passed:
            raise ConversionRefused(report)

    # Scope statistics from the converted model's embeddings of training images.
    train_emb = validation.tflite_scores(model_bytes, train_x, temp, progress=progress,
                                         stage="training embeddings").embeddings
    def embed(grays: list[np.ndarray]) -> np.ndarray:  # acquisition variants of train_x
        x = np.repeat(np.stack(grays).astype(np.float32)[..., None], train_x.shape[-1], axis=-1)
        return validation.tflite_scores(model_bytes, x, temp, progress=progress,
                                        stage="acquisition-variant embeddings").embeddings

    scope = fit_scope_stats(train_emb, images=train_x if len(train_x) >= MIN_PIXEL_STATS else None,
                            embed=embed)
    if "pixels" not in scope:
        log.warning("only %d training images: no image statistics for the out-of-scope guard "
                    "(needs %d)", len(train_x), MIN_PIXEL_STATS)

    from pneumonia_core.runtime import TFLiteRunner

    runner = TFLiteRunner(model_bytes)
    runner_outputs = {k: [int(v) for v in d["shape"]] for k, d in runner.output_details.items()}

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        atomic_write_bytes(tmp / MODEL_FILE, model_bytes)
        copied = _copy_run_artifacts(source.run_dir, tmp)
        plot_reliability(y_val, lite_side.logits, temp, tmp / "plots" / "reliability_converted.png",
                         f"TFLite {options.quantization}, validation split (n={len(y_val)})")
        meta = build_metadata(source, options, model_bytes, report, runner_outputs, scope)
        meta.validate()
        check_metadata(meta)  # the app's strict checks: never ship a folder the app refuses
        meta.save(tmp)
        scope_eval = portable_paths(
            _measure_scope(tmp, [k.path for k in kept]) if options.measure_scope
            else {"measured": False, "reason": "skipped (--skip-scope-eval)"}, source.data_root)
        meta.validation["out_of_scope"] = scope_eval
        meta.save(tmp)
        performance = shipped_performance(meta, tmp, options, y_val, lite_side.logits,
                                          int(cfg.get("ece_bins", 15)), progress)
        atomic_write_text(tmp / RECIPE_FILE, json.dumps(recipe(options, source), indent=2) + "\n")
        model_folder.write(
            tmp, meta,
            validation=report.to_dict() | {"out_of_scope": scope_eval, "run_artifacts": copied,
                                           "performance": _jsonable(performance)},
            card=model_card.render(meta, report, source, scope_eval, options, copied, performance,
                                   load_results(options.shift_results)))
        check_destination(out, options.force)  # it may have appeared while we worked
        _install(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote %s (sha256 %s)", out, meta.sha256[:12])
    from pneumonia_core.integrity import is_shipped

    if is_shipped(out):  # the app's own folder: pin it into the app (docs/model-integrity.md)
        from converter.pin import write_pin

        write_pin(out)
    return ConversionResult(out, meta, report, scope_eval)
