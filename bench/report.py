"""Turn the raw measurements into the ratio table, the goal table and the absolute numbers.

Ratios are against baselines measured in the same run, so they travel between machines
better than absolute numbers; the goals are the product's claims from issue 9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench import machine
from bench.startup import IMPORT_FLOOR

#: Keys of the ratio rows, in print order (the smoke test checks these).
RATIO_KEYS = (
    "inference_vs_predict_1t",
    "inference_vs_predict_2t",
    "inference_vs_tf_function",
    "pipeline_vs_naive",
    "decode_limit_over_pipeline",
    "decode_limit_over_pipeline_cpu",
    "pipeline_vs_exact_preparation",
    "classify_vs_exact_preparation",
    "speed_int8_over_float32_1t",
    "size_float32_over_int8",
)

#: Result keys of runs recorded while every shipped model was int8, and their neutral names.
_LEGACY_INFERENCE = {"tflite_int8_1t": "tflite_shipped_1t", "tflite_int8_2t": "tflite_shipped_2t"}


@dataclass
class Row:
    key: str
    label: str
    value: float | None
    unit: str = "x"
    goal: str = ""
    met: bool | None = None
    note: str = ""

    def cell(self) -> str:
        if self.value is None or not math.isfinite(self.value):
            return "n/a"
        if self.unit == "x":
            return f"{self.value:.2f}x" if self.value < 10 else f"{self.value:.1f}x"
        if self.unit in ("s", "ms"):
            return f"{self.value:.2f} {self.unit}"
        if self.unit == "AUC":
            return f"{self.value:+.4f}"
        return f"{self.value:.1f} {self.unit}".strip()

    def status(self) -> str:
        if self.goal == "reported":
            return "reported" if self.value is not None else "not measured"
        if self.met is None:
            return "-" if not self.goal else "not measured"
        return "met" if self.met else "MISSED"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "value": self.value, "unit": self.unit,
                "goal": self.goal, "met": self.met, "note": self.note}


def _get(d: dict[str, Any], *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _div(a: Any, b: Any) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return float(a) / float(b)


def _check(value: float | None, op: str, limit: float) -> bool | None:
    if value is None or not math.isfinite(value):
        return None
    return value >= limit if op == ">=" else value <= limit


def upgrade_legacy(res: dict[str, Any]) -> dict[str, Any]:
    """A results dict in the current layout from one written before bench/ named things by
    the shipped model's quantization (then always int8: keys ``tflite_int8_*``,
    ``int8_tflite_mb``, accuracy side ``"int8"``), for ``--from-json``; current ones unchanged."""
    inf = res.get("inference", {})
    if not any(k in inf for k in _LEGACY_INFERENCE):
        return res
    res = dict(res)
    res["settings"] = {"quantization": "int8", **res.get("settings", {})}
    res["inference"] = {_LEGACY_INFERENCE.get(k, k): v for k, v in inf.items()}
    proj = res.get("projection", {})
    if isinstance(proj.get("inference"), dict):
        res["projection"] = {**proj, "inference": {_LEGACY_INFERENCE.get(k, k): v
                                                   for k, v in proj["inference"].items()}}
    sizes = dict(res.get("sizes", {}))
    if "int8_tflite_mb" in sizes:
        res["quantization"] = {"shipped": "int8", "other": "float32",
                               "float32_tflite_mb": sizes.pop("float32_tflite_mb", None),
                               "other_how": sizes.pop("float32_how", None)}
        sizes["shipped_tflite_mb"] = sizes.pop("int8_tflite_mb")
        res["sizes"] = sizes
    acc = res.get("accuracy", {})
    if acc.get("status") == "ok" and "int8" in acc:
        acc = {k: v for k, v in acc.items() if k not in (
            "int8", "auc_drop", "logit_mean_abs_diff", "decision_agreement")}
        old = res["accuracy"]
        acc["shipped"] = {"quantization": "int8", **old["int8"], "auc_drop": old.get("auc_drop"),
                          "logit_mean_abs_diff": old.get("logit_mean_abs_diff"),
                          "decision_agreement": old.get("decision_agreement")}
        res["accuracy"] = acc
    return res


def shipped_quantization(res: dict[str, Any]) -> str:
    """The shipped model's quantization as recorded by the run (``"?"`` when unknown)."""
    return str(res.get("settings", {}).get("quantization") or "?")


def ratio_rows(res: dict[str, Any]) -> list[Row]:
    res = upgrade_legacy(res)
    q = shipped_quantization(res)
    inf = res.get("inference", {})
    tp = res.get("throughput", {})
    w = tp.get("workers", 2)
    pred = _get(inf, "keras_predict", "median_ms")
    t1 = _get(inf, "tflite_shipped_1t", "median_ms")
    t2 = _get(inf, "tflite_shipped_2t", "median_ms")
    tff = _get(inf, "keras_tf_function", "median_ms")
    app = _get(tp, f"app_{w}t", "images_per_s") or _get(tp, "app_1t", "images_per_s")
    dec = _get(tp, f"decode_only_{w}t", "images_per_s") or _get(tp, "decode_only_1t", "images_per_s")
    naive = _get(tp, "naive_keras", "images_per_s")
    qt = res.get("quantization", {})
    r1 = _div(pred, t1)
    r2 = _div(pred, t2)
    dl = _div(dec, app)
    return [
        Row("inference_vs_predict_1t", f"shipped model ({q}) LiteRT, 1 thread vs Keras "
            "`model.predict` (per image)", r1, goal=">= 20x", met=_check(r1, ">=", 20)),
        Row("inference_vs_predict_2t", f"shipped model ({q}) LiteRT, 2 threads vs Keras "
            "`model.predict` (per image)", r2, goal=">= 20x", met=_check(r2, ">=", 20)),
        Row("inference_vs_tf_function", f"shipped model ({q}) LiteRT, 1 thread vs compiled "
            "`tf.function` (per image)", _div(tff, t1)),
        Row("pipeline_vs_naive", f"app pipeline ({w} threads) vs naive pipeline (images/s)",
            _div(app, naive)),
        Row("decode_limit_over_pipeline",
            f"decode-only limit / app pipeline, {w} threads (1.0 = at the limit)",
            dl, goal="<= 1.5x", met=_check(dl, "<=", 1.5)),
        Row("decode_limit_over_pipeline_cpu",
            "same, in CPU time per image, 1 thread (insensitive to other processes' load)",
            _div(_get(tp, "app_1t", "cpu_ms_per_image"), _get(tp, "decode_only_1t", "cpu_ms_per_image")),
            goal="<= 1.5x",
            met=_check(_div(_get(tp, "app_1t", "cpu_ms_per_image"),
                            _get(tp, "decode_only_1t", "cpu_ms_per_image")), "<=", 1.5)),
        Row("pipeline_vs_exact_preparation", f"app pipeline ({w} threads) vs the same with "
            "the preparation before issue 21 (whole-film decode and bicubic; images/s)",
            _div(app, _get(tp, f"app_exact_{w}t", "images_per_s")
                 or _get(tp, "app_exact_1t", "images_per_s"))),
        Row("classify_vs_exact_preparation", "whole `classify` command vs the same with the "
            "preparation before issue 21 (films/s, fresh processes, interleaved)",
            _div(_get(tp, "classify_command", "images_per_s"),
                 _get(tp, "classify_command_exact", "images_per_s"))),
        Row("speed_int8_over_float32_1t", "int8 .tflite speed-up over float32 .tflite, same "
            "network, 1 thread (float32 ms / int8 ms per image)" + _tradeoff_note(qt),
            _div(_get(qt, "tflite_float32_1t", "median_ms"), _get(qt, "tflite_int8_1t", "median_ms"))),
        Row("size_float32_over_int8", "float32 .tflite / int8 .tflite (file size)"
            + _tradeoff_note(qt), _div(_tflite_mb(res, "float32"), _tflite_mb(res, "int8"))),
    ]


def _tflite_mb(res: dict[str, Any], precision: str) -> float | None:
    """The ``.tflite`` size in that precision: the shipped file's (sizes section) or the
    other precision's conversion (quantization section)."""
    if precision == shipped_quantization(res):
        return _get(res, "sizes", "shipped_tflite_mb")
    return _get(res, "quantization", f"{precision}_tflite_mb")


def _tradeoff_note(qt: dict[str, Any]) -> str:
    """Which of the two precisions is shipped, for the trade-off rows' labels."""
    if qt.get("shipped") and qt.get("other"):
        return f"; {qt['shipped']} shipped, {qt['other']} converted in this run"
    return ""


def goal_rows(res: dict[str, Any]) -> list[Row]:
    res = upgrade_legacy(res)
    q = shipped_quantization(res)
    tp = res.get("throughput", {})
    w = tp.get("workers", 2)
    st = res.get("startup", {})
    mem = res.get("memory", {})
    sizes = res.get("sizes", {})
    acc = res.get("accuracy", {})
    app = _get(tp, f"app_{w}t", "images_per_s")
    whole = _get(tp, "classify_command", "images_per_s")
    whole_how = "whole command, process start to exit" if whole else f"app pipeline, {w} threads"
    whole_cpu = _get(tp, "classify_command", "cpu_ms_per_image")
    whole_note = (f"CPU-bound estimate on {w} idle cores: {w * 1e3 / whole_cpu:.0f} films/s "
                  f"({whole_cpu:.2f} CPU-ms/film including start-up)") if whole and whole_cpu else ""
    whole = whole or app

    def secs(key: str) -> float | None:
        v = st.get(key, {})
        return v.get("median_s") if isinstance(v, dict) and v.get("ok") else None

    def cpu_note(key: str, fallback: str = "") -> str:
        v = st.get(key, {})
        if isinstance(v, dict) and v.get("ok") and v.get("cpu_s") is not None:
            return f"process CPU {v['cpu_s']:.2f} s (all threads); wall min {v['min_s']:.2f} s"
        return fallback

    peak = max((v.get("peak_rss_mb", 0) for v in mem.values()
                if isinstance(v, dict) and v.get("ok")), default=None)
    gui = _get(tp, "gui_window", "images_per_s")
    cpu_ms = _get(tp, "app_1t", "cpu_ms_per_image")
    est = (f"CPU-bound estimate on {w} idle cores: {w * 1e3 / cpu_ms:.0f} images/s "
           f"({cpu_ms:.2f} CPU-ms/image, 1-thread pass)") if cpu_ms else ""
    t1 = _get(res, "inference", "tflite_shipped_1t", "median_ms")
    rows = [
        Row("inference_budget", f"budget: shipped model ({q}) inference per image, 1 thread",
            t1, "ms", "<= 5 ms", _check(t1, "<=", 5.0)),
        Row("classify_budget", f"budget: `classify` full-resolution images/s on {w} cores "
            f"({whole_how})", whole, "images/s", ">= 150", _check(whole, ">=", 150),
            note=whole_note),
        Row("throughput", f"batch pipeline throughput, {w} threads, full-resolution JPEGs", app,
            "images/s", ">= 250", _check(app, ">=", 250), note=est),
        Row("throughput_gui", "app window throughput (open folder to last row), full-resolution "
            "JPEGs", gui, "images/s", ">= 250", _check(gui, ">=", 250),
            note=f"{_get(tp, 'gui_window', 'cpu_ms_per_image')} CPU-ms/image including the "
            "process's start-up" if gui else ""),
        Row("window_ready", "start-up to a ready window (installed package)",
            secs("window_ready"), "s", "<= 1 s", _check(secs("window_ready"), "<=", 1.0),
            note=cpu_note("window_ready", str(_get(st, "window_ready", "detail") or ""))),
        Row("window_first_result", "start-up to the first result shown in the window "
            "(image given on the command line)", secs("window_first_result"), "s", "<= 1 s",
            _check(secs("window_first_result"), "<=", 1.0)),
        Row("first_result_cli", "start-up to the first classified image (`classify` one file)",
            secs("first_result_cli"), "s", "<= 1 s", _check(secs("first_result_cli"), "<=", 1.0),
            note=cpu_note("first_result_cli")),
        Row("cli_vs_import_pair", "one-file `classify` against the bare `import ai_edge_litert, "
            "PySide6.QtWidgets` (same run)", _get(st, "cli_vs_import_pair", "ratio"), "x",
            "<= 1.2", _check(_get(st, "cli_vs_import_pair", "ratio"), "<=", 1.2),
            note=f"process CPU ratio {_get(st, 'cli_vs_import_pair', 'cpu_ratio')}x; "
                 f"`{IMPORT_FLOOR}` alone "
                 f"{_get(st, 'cli_vs_import_pair', 'floor_ratio')}x; the floor (those imports, "
                 "the model loaded in LiteRT, the image decoded, one inference) "
                 f"{_get(st, 'cli_vs_import_pair', 'model_floor_ratio')}x, `classify` "
                 f"{_get(st, 'cli_vs_import_pair', 'vs_model_floor')}x the floor"),
        Row("bundle_self_test", "PyInstaller bundle: start to a finished `--self-test`",
            secs("bundle_self_test"), "s", "<= 1 s", _check(secs("bundle_self_test"), "<=", 1.0),
            note=cpu_note("bundle_self_test", str(st.get("bundle", "")))),
        Row("bundle_window_first_result", "PyInstaller bundle: start to the first result shown "
            "in the window", secs("bundle_window_first_result"), "s", "<= 1 s",
            _check(secs("bundle_window_first_result"), "<=", 1.0),
            note="" if secs("bundle_window_first_result") else str(st.get("bundle", ""))),
        Row("bundle_first_result", "PyInstaller bundle: start to the first classified image",
            secs("bundle_first_result"), "s", "<= 1 s",
            _check(secs("bundle_first_result"), "<=", 1.0),
            note=cpu_note("bundle_first_result", str(st.get("bundle", "")))),
        Row("peak_rss", f"peak RSS classifying {res.get('settings', {}).get('memory_files', '?')} images",
            peak, "MB", "<= 400 MB", _check(peak, "<=", 400)),
        Row("bundle_size", "PyInstaller bundle folder size", sizes.get("bundle_mb"), "MB",
            "<= 120 MB", _check(sizes.get("bundle_mb"), "<=", 120),
            note=sizes.get("bundle_note", "")),
    ]
    other = _get(res, "quantization", "other") or "other precision"
    for key, side, label in (
            ("auc_drop", "shipped", f"ROC AUC lost by the shipped model ({q}) vs float Keras "
             "(validation split)"),
            ("auc_drop_other", "other", f"ROC AUC lost by the same network as {other} (not "
             "shipped, converted in this run) vs float Keras (validation split)")):
        a = acc.get(side) if acc.get("status") == "ok" else None
        if isinstance(a, dict):
            rows.append(Row(key, label, a.get("auc_drop"), "AUC", "reported",
                            note=f"{a['decision_agreement']:.2%} of {acc['images']} decisions "
                            f"identical to float Keras; sensitivity "
                            f"{acc['float']['sensitivity']:.4f} -> {a['sensitivity']:.4f}, "
                            f"specificity {acc['float']['specificity']:.4f} -> "
                            f"{a['specificity']:.4f}"))
        else:
            rows.append(Row(key, label, None, "AUC", "reported",
                            note=str(acc.get("status", "not run")) if acc.get("status") != "ok"
                            else "the other precision was not converted (quantization section)"))
    return rows


def projection_rows(res: dict[str, Any]) -> list[Row]:
    """The key ratios and goals again, for the training default architecture (random
    weights) when the shipped model is still another network; empty otherwise."""
    proj = res.get("projection", {})
    if proj.get("status") != "ok":
        return []
    sub = {"inference": proj.get("inference", {}), "throughput": proj.get("throughput", {}),
           "settings": {"quantization": shipped_quantization(res)}}
    keep = {"inference_vs_predict_1t", "inference_vs_predict_2t", "inference_vs_tf_function",
            "decode_limit_over_pipeline", "decode_limit_over_pipeline_cpu"}
    rows = [r for r in ratio_rows(sub) if r.key in keep]
    return rows + [r for r in goal_rows(sub) if r.key in ("inference_budget", "classify_budget",
                                                          "throughput")]


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def absolute_rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """The absolute measurements, section by section, as (label, value) rows."""
    res = upgrade_legacy(res)
    return [row for section in (_inference_rows, _throughput_rows, _startup_rows, _memory_rows,
                                _size_and_quantization_rows, _projected_rows, _accuracy_rows)
            for row in section(res)]


def _inference_rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """Absolute rows: the shipped model's inference timings."""
    rows: list[tuple[str, str]] = []
    for k, v in res.get("inference", {}).items():
        if isinstance(v, dict) and "median_ms" in v:
            rows.append((f"inference {k}", f"{v['median_ms']:.3f} ms median "
                         f"(p10 {v['p10_ms']:.3f}, p90 {v['p90_ms']:.3f}, {v['runs']} runs)"))
    return rows


def _throughput_rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """Absolute rows: batch throughput and the pipeline's profile."""
    rows: list[tuple[str, str]] = []
    for k, v in res.get("throughput", {}).items():
        if isinstance(v, dict) and "images_per_s" in v:
            busy = v.get("cpu_utilisation")
            rows.append((f"throughput {k}", f"{v['images_per_s']:.1f} images/s "
                         f"({v['images']} files in {v['seconds']:.2f} s; "
                         f"{v.get('cpu_ms_per_image', float('nan')):.2f} CPU-ms/image"
                         + (f", {busy:.2f} cores busy)" if busy is not None else ")")))
    prof = res.get("throughput", {}).get("profile", {})
    if prof:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in prof["stages_ms_per_image"].items())
        rows.append(("profile app pipeline (CPU-ms/image)",
                     f"{prof['cpu_ms_per_image']:.2f} total: {stages}"))
    return rows


def _startup_rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """Absolute rows: start-up times and the window's slowest imports."""
    rows: list[tuple[str, str]] = []
    for k, v in res.get("startup", {}).items():
        if k == "window_imports_ms" and isinstance(v, dict):
            rows.append(("start-up window imports (ms, cumulative)",
                         ", ".join(f"{m} {t:.0f}" for m, t in v.items())))
        elif isinstance(v, dict) and "median_s" in v:
            cpu = f"; CPU {v['cpu_s']:.3f} s" if v.get("cpu_s") is not None else ""
            rows.append((f"start-up {k}", f"{v['median_s']:.3f} s median of {v['runs']} "
                         f"(min {v['min_s']:.3f} s{cpu})"
                         if v.get("ok") else f"n/a: {v.get('detail', '')[:120]}"))
    return rows


def _memory_rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """Absolute rows: peak memory of each runner."""
    rows: list[tuple[str, str]] = []
    for k, v in res.get("memory", {}).items():
        if isinstance(v, dict):
            rows.append((f"memory {k}", f"peak {v['peak_rss_mb']:.0f} MB, after model load "
                         f"{v['rss_after_model_load_mb']:.0f} MB, {v['files']} files in "
                         f"{v['seconds']:.1f} s = {v.get('images_per_s') or 0:.0f} images/s "
                         f"({v['runner']})"
                         if v.get("ok") else f"n/a: {v.get('detail', '')[-160:]}"))
    return rows


def _size_and_quantization_rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """Absolute rows: file sizes and the other precision's timings."""
    rows: list[tuple[str, str]] = []
    for k, v in res.get("sizes", {}).items():
        rows.append((f"size {k}", _fmt(v)))
    for k, v in res.get("quantization", {}).items():
        if isinstance(v, dict) and "median_ms" in v:
            rows.append((f"quantization {k}", f"{v['median_ms']:.3f} ms median "
                         f"(p10 {v['p10_ms']:.3f}, p90 {v['p90_ms']:.3f}, {v['runs']} runs)"))
        else:
            rows.append((f"quantization {k}", _fmt(v)))
    return rows


def _projected_rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """Absolute rows: the projection's timings (another network)."""
    rows: list[tuple[str, str]] = []
    proj = res.get("projection", {})
    for sect in ("inference", "throughput"):
        for k, v in proj.get(sect, {}).items():
            if isinstance(v, dict) and "median_ms" in v:
                rows.append((f"projected inference {k}", f"{v['median_ms']:.3f} ms median"))
            elif isinstance(v, dict) and "images_per_s" in v:
                rows.append((f"projected throughput {k}", f"{v['images_per_s']:.1f} images/s"))
    return rows


def _accuracy_rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """Absolute rows: accuracy of each precision and its agreement with float Keras."""
    rows: list[tuple[str, str]] = []
    acc = res.get("accuracy", {})
    if acc.get("status") == "ok":
        for side in ("float", "shipped", "other"):
            a = acc.get(side)
            if not isinstance(a, dict):
                continue
            name = side if side == "float" else f"{side} ({a.get('quantization', '?')})"
            rows.append((f"accuracy {name}", f"AUC {a['roc_auc']:.4f}, sensitivity "
                         f"{a['sensitivity']:.4f}, specificity {a['specificity']:.4f} at "
                         f"threshold {a['threshold']:.4f} ({acc['images']} val images)"))
            if side != "float":
                rows.append((f"accuracy agreement {name}", f"{a['decision_agreement']:.4f} of "
                             f"decisions equal to float Keras; mean |logit diff| "
                             f"{a['logit_mean_abs_diff']:.4f}"
                             + (f", max {a['logit_max_abs_diff']:.4f}"
                                if a.get("logit_max_abs_diff") is not None else "")))
        if not acc.get("model_from_this_run"):
            rows.append(("accuracy warning", "the shipped model's metadata names another "
                         "training run"))
    else:
        rows.append(("accuracy", str(acc.get("status", "not run"))))
    return rows


def busy_warning(res: dict[str, Any]) -> str:
    """A warning when other processes loaded the machine during the run (or during the later
    start-up and sizes run merged into it), else ''."""
    m = res.get("machine", {})
    cores = m.get("cores") or 1
    rerun = m.get("startup_and_sizes_rerun") or {}
    parts = []
    for what, src in (("", m), (" during the later start-up and sizes run", rerun),
                      (" during the latest start-up run", m.get("startup_rerun") or {})):
        loads = [x[0] for x in (src.get("load_average_start"), src.get("load_average_end")) if x]
        if loads and max(loads) > cores:
            parts.append(f"up to {max(loads):.1f} on {cores} cores{what}")
    if parts:
        return (f"WARNING: the machine was busy (1-minute load average {'; '.join(parts)}): "
                "wall-clock throughput and latency are lower bounds; the CPU-time figures and "
                "same-run ratios are the robust view.")
    return ""


def markdown(res: dict[str, Any]) -> str:
    """The three tables and the machine, as GitHub markdown."""
    m = res.get("machine", {})
    s = res.get("settings", {})
    warn = busy_warning(res)
    lines = ([f"**{warn}**", ""] if warn else []) + [
        f"Measured {m.get('date_utc', '?')} on {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
        f"{m.get('memory_gib', '?')} GiB, {m.get('os', '?')}, Python {m.get('python', '?')}; "
        + ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items())
        + f"; commit {m.get('git_commit', '?')}; load average at start "
        f"{m.get('load_average_start')}, at end {m.get('load_average_end')}.",
        "",
        *([f"{'Sizes' if m.get('startup_rerun') else 'Start-up and sizes'} from a later run: "
           f"{rerun.get('date_utc', '?')}, commit "
           f"{rerun.get('git_commit', '?')}, load average at start "
           f"{rerun.get('load_average_start')}, at end {rerun.get('load_average_end')}.", ""]
          if (rerun := m.get("startup_and_sizes_rerun")) else []),
        *([f"Start-up from the latest run: {last.get('date_utc', '?')}, commit "
           f"{last.get('git_commit', '?')}, load average at start "
           f"{last.get('load_average_start')}, at end {last.get('load_average_end')}"
           + (f"; {last['note']}" if last.get("note") else "") + ".", ""]
          if (last := m.get("startup_rerun")) else []),
        f"Model: {s.get('model', '?')}. Float baseline: {machine.shown_path(s.get('float_model', '?'))}.",
        "",
        "| ratio (same run) | value | goal | status |",
        "|---|---|---|---|",
    ]
    for r in ratio_rows(res):
        lines.append(f"| {r.label} | {r.cell()} | {r.goal or '-'} | {r.status()} |")
    lines += ["", "| goal | measured | goal | status | note |", "|---|---|---|---|---|"]
    for r in goal_rows(res):
        lines.append(f"| {r.label} | {r.cell()} | {r.goal} | {r.status()} | {r.note} |")
    proj = projection_rows(res)
    if proj:
        lines += ["", f"Projection for {res['projection'].get('model', '?')} (the shipped model "
                  "is another network; timings only):", "",
                  "| projected | value | goal | status | note |", "|---|---|---|---|---|"]
        for r in proj:
            lines.append(f"| {r.label} | {r.cell()} | {r.goal or '-'} | {r.status()} | {r.note} |")
    lines += ["", "| absolute | value |", "|---|---|"]
    for k, v in absolute_rows(res):
        lines.append(f"| {k} | {v} |")
    return "\n".join(lines) + "\n"


def text(res: dict[str, Any]) -> str:
    """A plain-text rendering for the terminal (same content as :func:`markdown`)."""
    warn = busy_warning(res)
    out = ([warn] if warn else []) + ["RATIOS (baselines measured in this run)"]
    for r in ratio_rows(res):
        out.append(f"  {r.cell():>9}  {r.label}" + (f"   [goal {r.goal}: {r.status()}]" if r.goal else ""))
    out.append("GOALS")
    for r in goal_rows(res):
        out.append(f"  {r.cell():>13}  {r.label}   [goal {r.goal}: {r.status()}]"
                   + (f"  ({r.note})" if r.note else ""))
    proj = projection_rows(res)
    if proj:
        out.append(f"PROJECTED for {res['projection'].get('model', '?')}")
        for r in proj:
            out.append(f"  {r.cell():>13}  {r.label}" + (f"   [goal {r.goal}: {r.status()}]" if r.goal else ""))
    out.append("ABSOLUTE")
    for k, v in absolute_rows(res):
        out.append(f"  {k}: {v}")
    m = res.get("machine", {})
    out.append(f"MACHINE {m.get('cpu')} x{m.get('cores')}, Python {m.get('python')}, "
               f"load {m.get('load_average_start')} -> {m.get('load_average_end')}")
    return "\n".join(out) + "\n"
