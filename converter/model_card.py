"""``MODEL_CARD.md``: the facts of ``metadata.json`` and the validation, written for people."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter import provenance
from converter.run_source import RunError, RunSource, read_json
from converter.shift_card import shift_section
from converter.validation import ValidationReport
from pneumonia_core.metadata import ModelMetadata

if TYPE_CHECKING:
    from converter.options import ConvertOptions

log = logging.getLogger(__name__)

def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "n/a" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def _demote(markdown: str) -> str:
    """Push headings of an embedded document two levels down."""
    return "\n".join("##" + line if line.startswith("#") else line for line in markdown.splitlines())


def _details(meta: ModelMetadata, source: RunSource) -> list[str]:
    cfg = meta.training.get("config", {})
    arch = cfg.get("architecture", "?") if isinstance(cfg, dict) else "?"
    return [
        "## Model details",
        "",
        *_table(["field", "value"], [
            ["name / version", f"{meta.name} {meta.version}"],
            ["created (UTC)", meta.created],
            ["file", f"`{meta.file}` ({meta.quantization})"],
            ["SHA-256", f"`{meta.sha256}`"],
            ["architecture", f"{arch}: CNN, " + (
                "`Conv2D(1, 1)` class-activation head, global average pooling"
                if "cam" in meta.outputs else "dense head, no class-activation map (no heatmap)")],
            ["input", f"`{meta.input.name}` {meta.input.shape} {meta.input.dtype}, grayscale raw "
                      f"pixels {meta.input.value_range}; resize: {meta.input.resize}"],
            ["outputs", ", ".join(f"`{v['name']}` {v['shape']}" for v in meta.outputs.values())],
            ["labels", f"{meta.labels} (score is P({meta.positive_label}))"],
            ["training run", f"`{source.run_dir.name}`"],
            ["config digest", f"`{meta.training.get('config_digest')}`"],
            ["data fingerprint", f"`{meta.training.get('data_fingerprint')}`"],
            ["git commit", f"`{meta.training.get('git_commit')}`"],
        ]),
        "",
        "Everything the app needs (input size, output names, threshold, temperature, labels, "
        "hash, out-of-scope statistics) is read from `metadata.json`; nothing is hard-coded.",
    ]


def _use(meta: ModelMetadata) -> list[str]:
    return ["## Intended use", "", meta.intended_use, "", "## Limitations", "",
            *[f"- {item}" for item in meta.limitations]]


def _data(source: RunSource) -> list[str]:
    def count(samples: list, label: int) -> int:
        return sum(1 for s in samples if s.label == label)

    split = source.split_info
    return [
        "## Training data",
        "",
        "Kermany et al. (2018) pediatric chest X-rays (Guangzhou Women and Children's Medical "
        "Center), `train/` folder only. The validation split is carved out of `train/` by "
        "patient, so no patient appears on both sides. No film of the official test split was "
        "used to train weights (see the performance section for how an external set was used).",
        "",
        *_table(["split", "NORMAL", "PNEUMONIA", "total"], [
            ["train", count(source.train, 0), count(source.train, 1), len(source.train)],
            ["validation", count(source.val, 0), count(source.val, 1), len(source.val)],
        ]),
        "",
        f"Split seed {split.get('seed', 'n/a')}, validation fraction "
        f"{split.get('val_fraction', 'n/a')}, image limit {split.get('limit') or 'none'}, data "
        f"folder `{Path(str(split.get('data_root', 'n/a'))).name}`.",
    ]


def _validation(meta: ModelMetadata, report: ValidationReport) -> list[str]:
    q = meta.quantization
    k, c = report.keras, report.converted
    rows = [[name, k[key], c[key]] for name, key in (
        ("ROC AUC", "roc_auc"), ("sensitivity", "sensitivity"), ("specificity", "specificity"),
        (f"ECE ({report.ece_bins} bins), calibrated", "ece"),
        (f"ECE ({report.ece_bins} bins), uncalibrated", "ece_uncalibrated"))]
    return [
        "## Validation metrics",
        "",
        f"Validation split, {report.n_images} images ({report.n_positive} PNEUMONIA, "
        f"{report.n_negative} NORMAL), calibrated probabilities, threshold "
        f"{report.threshold:.4f}. Both models saw the same images through the app's loader; the "
        "TFLite model ran through the app's LiteRT runner.",
        "",
        *_table(["metric", "Keras float32", f"TFLite {q} (shipped)"], rows),
        "",
        *_table(["agreement check", "value", "limit"], [
            [f"decision agreement at the threshold, {report.n_outside_band} images outside "
             f"+-{report.agreement_band} logit of it", f"{report.agreement_outside_band:.2%}",
             f">= {report.min_agreement:.0%}"],
            [f"decision agreement, all images ({report.borderline_flips} borderline flips)",
             f"{report.agreement:.2%}", ""],
            ["distinct probabilities (TFLite)", f"{report.distinct_probabilities} of "
             f"{report.n_images}", ""],
            ["ROC AUC drop", f"{report.auc_drop:+.4f}", f"<= {report.max_auc_drop}"],
            ["max abs delta probability", report.max_abs_delta_probability, ""],
            ["mean abs delta probability", report.mean_abs_delta_probability, ""],
            ["heatmap correlation with Keras, mean (min)", report.cam_text(), ""],
        ]),
        "",
        "The validation split also chose the checkpoint and the training run's temperature and "
        "threshold, so these numbers are optimistic; the held-back official test split is the "
        "independent measure.",
    ]


def _ci(entry: dict[str, Any]) -> str:
    return f"{_fmt(entry['value'])} ({_fmt(entry['ci_low'])}-{_fmt(entry['ci_high'])})"


def _performance(meta: ModelMetadata, performance: dict[str, Any]) -> list[str]:
    """Shipped model, shipped operating point: validation split and external set, each row
    labelled with how that set was used."""
    rows = []
    for key, label in (("validation", "validation split (carved from train/)"),
                       ("external", None)):
        r = performance.get(key)
        if not r:
            continue
        name = label or f"external set `{r['name']}`"
        rows.append([name, r["usage"], f"{r['n']} ({r['n_positive']})", _ci(r["roc_auc"]),
                     _ci(r["sensitivity"]), _ci(r["specificity"]), r["ece"]])
    lines = [
        "## Performance at the shipped operating point",
        "",
        f"The shipped TFLite {meta.quantization} model with the shipped calibration and "
        f"threshold ({meta.threshold_value:.4f}). 95% intervals: exact (Clopper-Pearson) for "
        "sensitivity and specificity, stratified bootstrap (2000 resamples) for the ROC AUC. "
        f"ECE with {15} equal-width bins. \"Used for\" says what each set decided, so which "
        "numbers are optimistic.",
        "",
        *_table(["set", "used for", "n (PNEUMONIA)", "ROC AUC", "sensitivity", "specificity",
                 "ECE"], rows),
    ]
    ext = performance.get("external")
    if ext:
        lines += [
            "",
            f"The external set was scored through the app's own path (model folder loaded by "
            f"`pneumonia_core`, files classified by `classify_many`: loader, out-of-scope guard, "
            f"LiteRT runner, operating point), i.e. what `pneumonia-xray classify` says: "
            f"{ext['n_files']} files, {ext['n_not_classified']} not classified (out of scope or "
            f"unreadable, listed in `validation.json`), {ext['distinct_probabilities']} distinct "
            f"probabilities. Uncalibrated ECE (sigmoid of the raw logit): "
            f"{_fmt(ext.get('uncalibrated_ece'))}.",
        ]
        if "calibration" in ext["usage"]:
            lines += ["", "Because the calibration and the threshold were fitted on this set, its "
                      "ECE and sensitivity/specificity are in-sample; the maintainers' held-back "
                      "half of the official test split is the independent check."]
    return lines


def _threshold(meta: ModelMetadata) -> list[str]:
    t = meta.threshold
    where = t.get("fitted_on") or "the validation split"
    return [
        "## Decision threshold",
        "",
        f"PNEUMONIA when the calibrated probability is >= **{meta.threshold_value:.4f}**.",
        "",
        f"Rule: {t.get('rule') or 'not recorded'} (target sensitivity "
        f"{_fmt(t.get('target_sensitivity'), 3)}). At this threshold the shipped model has "
        f"sensitivity {_fmt(t.get('sensitivity'))} and specificity {_fmt(t.get('specificity'))} "
        f"on {where}.",
    ]


def _calibration(meta: ModelMetadata, copied: list[str], source: RunSource) -> list[str]:
    cal = meta.calibration
    run_cal = source.calibration
    if cal.get("method") == "logistic":
        lines = [
            "## Calibration",
            "",
            f"Logistic calibration: P = sigmoid(a * logit + b), a = {cal['scale']:.4f}, "
            f"b = {cal['offset']:.4f}, fitted (maximum likelihood) on the {cal.get('fitted_on')} "
            "and applied to the TFLite model's logit by the app. Two parameters, so it also "
            "corrects the shift in class balance and score scale between the training films and "
            "that set; see the performance table for the ECE on each set. The training run's "
            f"temperature (validation split) was {source.temperature:.4f}.",
        ]
    else:
        lines = [
            "## Calibration",
            "",
            f"Temperature scaling: P = sigmoid(logit / T), T = {meta.temperature:.4f}, fitted on the "
            "validation logits by the training run and applied to the TFLite model's logit by the app.",
            "",
            *_table(["expected calibration error, validation split", "before (T = 1)", "after"], [
                [f"shipped TFLite {meta.quantization} model", cal.get("ece_before"), cal.get("ece_after")],
                ["Keras model (training run's calibration.json)", run_cal.get("ece_before"),
                 run_cal.get("ece_after")]]),
        ]
    lines += ["", "![Reliability diagram on the validation split, training-run temperature]"
              "(plots/reliability_converted.png)"]
    others = [p for p in copied if p.startswith("plots/")]
    if others:
        lines += ["", "Plots from the training run: " + ", ".join(f"[{Path(p).stem}]({p})" for p in others)
                  + ". Full evaluation report: [report.md](report.md)."]
    return lines


def _baseline(source: RunSource, baseline: Path | None, experiments: Path | None) -> list[str]:
    lines = ["## Seed baseline and experiments", ""]
    if baseline is not None:
        try:
            base_report = read_json(baseline / "report.json")
        except RunError as exc:
            lines += [f"Baseline run `{baseline.name}` could not be read: {exc}", ""]
        else:
            ours = provenance.headline_metrics(source.report)
            theirs = provenance.headline_metrics(base_report)
            keys = [k for k in provenance.HEADLINE_KEYS if k in ours or k in theirs]
            lines += [
                f"Keras models on their own validation split, calibrated, at their own threshold "
                f"(from each run's `report.json`); baseline run `{baseline.name}`.",
                "",
                *_table(["metric", "seed baseline", "this model"],
                        [[k, theirs.get(k), ours.get(k)] for k in keys]),
                "",
            ]
    else:
        lines += ["No baseline run was given (`--baseline RUN_DIR`).", ""]
    if experiments is None:
        lines += ["No experiment log was given (`--experiments FILE.md`)."]
    elif experiments.is_file():
        lines += [f"Experiments (from `{experiments.name}`):", "",
                  _demote(experiments.read_text(encoding="utf-8"))]
    else:
        lines += [f"The experiment log `{experiments.name}` was not found."]
    return lines


def scope_markdown(result: dict[str, Any]) -> str:
    """The headline figures and the per-category breakdown as Markdown tables."""
    t = result["targets"]
    lines = [
        "| measure | value | target |",
        "|---|---|---|",
        f"| non-chest inputs caught | {result['ood_caught']}/{result['ood_total']} "
        f"({result['ood_caught_fraction']:.1%}) | >= {t['ood_caught_min']:.0%} |",
        f"| validation X-rays rejected | {result['val_rejected']}/{result['val_total']} "
        f"({result['val_rejected_fraction']:.2%}) | <= {t['val_rejected_max']:.0%} |",
        "",
        "| corpus category | items | caught |",
        "|---|---|---|",
    ]
    for cat, v in result["by_category"].items():
        lines.append(f"| {cat} | {v['n']} | {v['caught']} ({v['fraction']:.0%}) |")
    checks = ", ".join(f"{k} {v}" for k, v in result.get("ood_by_check", {}).items())
    lines += ["", f"Check that caught each non-chest input: {checks or 'none'}."]
    if result.get("ood_missed"):
        lines.append("Missed: " + ", ".join(m["item"] for m in result["ood_missed"]) + ".")
    lines.append(f"Method: {result.get('method', '')}.")
    return "\n".join(lines)


def scope_section(scope_eval: dict[str, Any], meta: ModelMetadata) -> list[str]:
    """The card's ``## Out-of-scope inputs`` section (lines) for a scope evaluation."""
    lines = ["## Out-of-scope inputs", "",
             "Inputs that are not frontal chest radiographs are reported as out of scope instead "
             "of getting a probability: DICOM tags, colour, image statistics"
             + (" and layout fitted on training X-rays" if meta.scope.get("pixels") else "")
             + ", and the distance of the model's pooled features from training images ("
             + f"{meta.scope.get('distance_rule', 'not fitted')}).",
             ""]
    if not scope_eval.get("measured"):
        return lines + [f"**Not measured**: {scope_eval.get('reason', 'unknown reason')}."]
    try:
        return lines + [scope_markdown(scope_eval), "",
                        "Every file behind these figures is listed in `validation.json`."]
    except (ImportError, KeyError, TypeError, ValueError) as exc:
        log.debug("scope_markdown unavailable (%s); plain table", exc)
    def cell(v: Any) -> Any:
        if isinstance(v, list):
            return f"{len(v)} items (listed in validation.json)"
        return json.dumps(v) if isinstance(v, dict) else v

    rows = [[k, cell(v)] for k, v in scope_eval.items() if k != "measured"]
    return lines + _table(["measure", "value"], rows)


def render(meta: ModelMetadata, report: ValidationReport, source: RunSource,
           scope_eval: dict[str, Any], options: ConvertOptions, copied: list[str],
           performance: dict[str, Any] | None = None,
           shift_results: dict[str, Any] | None = None) -> str:
    """The whole model card as Markdown."""
    sections = [
        [f"# Model card: {meta.name} {meta.version}", "",
         f"Pneumonia triage model for pediatric frontal chest X-rays, TensorFlow Lite "
         f"{meta.quantization}. Generated by `pneumonia-convert` from the same facts as "
         "`metadata.json`."],
        _details(meta, source),
        _use(meta),
        _data(source),
        _performance(meta, performance or {}),
        _validation(meta, report),
        _threshold(meta),
        _calibration(meta, copied, source),
        scope_section(scope_eval, meta),
        _baseline(source, options.baseline, options.experiments),
        ["## Reproduce", "",
         f"    pneumonia-convert RUN_DIR --out DIR --quantization {options.quantization} "
         f"--calibration-images {options.calibration_images} --scope-images {options.scope_images}"
         + (" --rethreshold" if options.rethreshold else "")
         + (f" --external {Path(options.external).name}" if options.external else "")
         + (" --fit-on-external" if options.fit_on_external else "")
         + (" --selected-on-external" if options.selected_on_external else ""),
         "", f"RUN_DIR is the training run folder (`{source.run_dir.name}`); the options are "
         "also in `recipe.json`. The training command and configuration are in the run's "
         "`config.json` (summarised in `metadata.json` under `training`)."],
        shift_section(shift_results, meta),
    ]
    return "\n\n".join("\n".join(s) for s in sections) + "\n"
