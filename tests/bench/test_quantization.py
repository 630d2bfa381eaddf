"""bench/ names and keys everything by what the shipped model is (its metadata's quantization)
and measures the int8 / float32 trade-off in the same run, whichever of the two is shipped.

The report tests use hand-made results; the slow test converts a tiny trained run to a float32
and to an int8 model folder with ``pneumonia-convert``'s own function and benchmarks both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.quantization import other_quantization


def _timing(ms: float) -> dict[str, Any]:
    return {"median_ms": ms, "p10_ms": ms, "p90_ms": ms, "runs": 5}


def _side(q: str, auc: float, agreement: float) -> dict[str, Any]:
    return {"quantization": q, "roc_auc": auc, "threshold": 0.3, "sensitivity": 0.95,
            "specificity": 0.9, "auc_drop": round(0.99 - auc, 5), "decision_agreement": agreement,
            "logit_mean_abs_diff": 0.01, "logit_max_abs_diff": 0.05}


def _results(shipped: str, shipped_ms: float = 1.74) -> dict[str, Any]:
    """A run's results as bench records them, the shipped model in ``shipped`` precision."""
    other = other_quantization(shipped)
    ms = {shipped: shipped_ms, other: 1.33 if other == "int8" else 2.31}
    mb = {"float32": 3.6, "int8": 1.2}
    acc_q = {"float32": 0.99, "int8": 0.985}
    return {
        "settings": {"quantization": shipped},
        "inference": {"tflite_shipped_1t": _timing(shipped_ms), "tflite_shipped_2t": _timing(1.0),
                      "keras_predict": _timing(40.0), "keras_tf_function": _timing(5.0)},
        "throughput": {"workers": 2, "app_2t": {"images_per_s": 149.0, "images": 64,
                                                "seconds": 0.43}},
        "quantization": {"shipped": shipped, "other": other,
                         f"tflite_{shipped}_1t": _timing(ms[shipped]),
                         f"tflite_{other}_1t": _timing(ms[other]),
                         f"{other}_tflite_mb": mb[other]},
        "sizes": {"shipped_tflite_mb": mb[shipped], "model_quantization": shipped},
        "accuracy": {"status": "ok", "images": 16, "model_from_this_run": True,
                     "float": _side("float", 0.99, 1.0) | {"sensitivity": 0.97},
                     "shipped": _side(shipped, acc_q[shipped], 1.0 if shipped == "float32" else 0.9),
                     "other": _side(other, acc_q[other], 1.0 if other == "float32" else 0.9)},
    }


def test_the_other_precision_is_float32_for_int8_and_int8_otherwise() -> None:
    assert other_quantization("int8") == "float32"
    assert other_quantization("float32") == "int8"
    assert other_quantization("float16") == "int8"


@pytest.mark.parametrize("shipped", ["float32", "int8"])
def test_rows_are_labelled_by_the_shipped_quantization(shipped: str) -> None:
    res = _results(shipped)
    other = other_quantization(shipped)
    md = report.markdown(res)
    assert f"shipped model ({shipped}) LiteRT, 1 thread vs Keras `model.predict`" in md
    assert "int8 LiteRT" not in md and "lost by int8 quantization" not in md
    ratios = {r.key: r for r in report.ratio_rows(res)}
    assert tuple(ratios) == report.RATIO_KEYS
    assert ratios["inference_vs_predict_1t"].value == pytest.approx(40.0 / 1.74)
    # the trade-off is int8 against float32 whichever is shipped, and says which one is
    assert ratios["speed_int8_over_float32_1t"].value == pytest.approx(
        (1.74 if shipped == "float32" else 2.31) / (1.33 if shipped == "float32" else 1.74))
    assert ratios["size_float32_over_int8"].value == pytest.approx(3.6 / 1.2)
    assert f"{shipped} shipped, {other} converted in this run" in ratios["size_float32_over_int8"].label
    goals = {g.key: g for g in report.goal_rows(res)}
    assert goals["auc_drop"].value == res["accuracy"]["shipped"]["auc_drop"]
    assert f"shipped model ({shipped})" in goals["auc_drop"].label
    assert goals["auc_drop_other"].value == res["accuracy"]["other"]["auc_drop"]
    assert f"as {other} (not shipped" in goals["auc_drop_other"].label
    agreement = res["accuracy"]["other"]["decision_agreement"]
    assert f"{agreement:.2%} of 16 decisions identical" in goals["auc_drop_other"].note
    absolute = dict(report.absolute_rows(res))
    assert f"accuracy shipped ({shipped})" in absolute and f"accuracy other ({other})" in absolute
    assert f"quantization tflite_{other}_1t" in absolute


@pytest.mark.parametrize(("ms", "images_per_s", "met"), [(4.9, 151.0, True), (5.1, 149.0, False)])
def test_budget_rows_judge_the_shipped_model_and_classify(ms: float, images_per_s: float,
                                                          met: bool) -> None:
    res = _results("float32", shipped_ms=ms)
    res["throughput"]["app_2t"]["images_per_s"] = images_per_s
    goals = {g.key: g for g in report.goal_rows(res)}
    assert goals["inference_budget"].value == ms and goals["inference_budget"].met is met
    assert goals["inference_budget"].cell() == f"{ms:.2f} ms"
    assert "shipped model (float32)" in goals["inference_budget"].label
    assert goals["classify_budget"].value == images_per_s and goals["classify_budget"].met is met


def test_results_written_while_int8_was_always_shipped_still_render() -> None:
    old = {"inference": {"tflite_int8_1t": _timing(2.29), "keras_predict": _timing(38.4)},
           "sizes": {"int8_tflite_mb": 1.1, "float32_tflite_mb": 3.6, "model_quantization": "int8"},
           "accuracy": {"status": "ok", "images": 8, "model_from_this_run": True,
                        "float": _side("float", 0.99, 1.0),
                        "int8": {k: v for k, v in _side("int8", 0.98, 0.9).items()
                                 if k not in ("quantization", "auc_drop", "decision_agreement",
                                              "logit_mean_abs_diff", "logit_max_abs_diff")},
                        "auc_drop": 0.01, "decision_agreement": 0.875,
                        "logit_mean_abs_diff": 0.03}}
    ratios = {r.key: r for r in report.ratio_rows(old)}
    assert ratios["inference_vs_predict_1t"].value == pytest.approx(38.4 / 2.29)
    assert ratios["inference_vs_predict_1t"].label.startswith("shipped model (int8)")
    assert ratios["size_float32_over_int8"].value == pytest.approx(3.6 / 1.1)
    goals = {g.key: g for g in report.goal_rows(old)}
    assert goals["auc_drop"].value == 0.01 and "87.50% of 8" in goals["auc_drop"].note
    assert goals["inference_budget"].value == 2.29
    assert "int8_tflite_mb" in old["sizes"] and "int8" in old["accuracy"]  # input untouched


# --- end to end on tiny converted models -------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained run folder (the converter tests' generated task and contract model)."""

    from tests.converter.test_converter_pipeline import make_run, train_tiny_model

    base = tmp_path_factory.mktemp("bench_tiny_run")
    data_root, model, split = train_tiny_model(base, n_val=12, repeats=2, epochs=8)
    return make_run(base / "run", data_root, model, split, temperature=1.5, threshold=0.5)


@pytest.mark.slow
@pytest.mark.parametrize("shipped", ["float32", "int8"])
def test_bench_measures_the_shipped_model_and_the_other_precision(
        tiny_run: Path, tmp_path: Path, shipped: str) -> None:
    from bench.__main__ import Settings, run_all
    from converter.convert import ConvertOptions, convert_run
    from pneumonia_core.metadata import ModelMetadata

    model_dir = tmp_path / "model"
    convert_run(tiny_run, model_dir, ConvertOptions(quantization=shipped, calibration_images=20,
                                                    scope_images=60, measure_scope=False))
    assert ModelMetadata.load(model_dir).quantization == shipped
    other = other_quantization(shipped)
    tiny = Settings(tflite_runs=5, compiled_runs=2, predict_runs=2, accuracy_limit=None,
                    calibration_images=12,
                    sections=("inference", "sizes", "quantization", "accuracy"))
    res = run_all(tiny, model_dir, tiny_run, tmp_path / "no_bundle", tmp_path / "work")
    assert res["errors"] == {}
    assert res["settings"]["quantization"] == shipped
    assert set(res["inference"]) >= {"tflite_shipped_1t", "tflite_shipped_2t"}
    assert not any("int8" in k or "float32" in k for k in res["inference"])
    assert res["sizes"]["shipped_tflite_mb"] > 0 and res["sizes"]["model_quantization"] == shipped
    q = res["quantization"]
    assert (q["shipped"], q["other"]) == (shipped, other)
    assert f"{shipped}_tflite_mb" not in q and q[f"{other}_tflite_mb"] > 0  # one fact, one place
    assert q["tflite_int8_1t"]["median_ms"] > 0 and q["tflite_float32_1t"]["median_ms"] > 0
    assert ("calibration" in q) == (other == "int8")
    if other == "int8":
        assert q["calibration"].startswith("12 training-split images of the run")
    acc = res["accuracy"]
    assert acc["status"] == "ok" and acc["images"] == 24
    assert acc["shipped"]["quantization"] == shipped and acc["other"]["quantization"] == other
    f32 = acc["shipped" if shipped == "float32" else "other"]
    # float32 LiteRT is float Keras up to rounding: same logits, same decisions
    assert f32["logit_max_abs_diff"] < 1e-3 and f32["decision_agreement"] == 1.0
    assert 0 < acc[("other" if shipped == "float32" else "shipped")]["decision_agreement"] <= 1
    ratios = {r["key"]: r for r in res["ratios"]}
    mb = {shipped: res["sizes"]["shipped_tflite_mb"], other: q[f"{other}_tflite_mb"]}
    assert ratios["size_float32_over_int8"]["value"] == pytest.approx(mb["float32"] / mb["int8"])
    assert ratios["size_float32_over_int8"]["value"] > 1
    assert ratios["speed_int8_over_float32_1t"]["value"] > 0
    assert ratios["inference_vs_predict_1t"]["label"].startswith(f"shipped model ({shipped})")
    goals = {g["key"]: g for g in res["goals"]}
    assert goals["auc_drop"]["value"] == acc["shipped"]["auc_drop"]
    assert goals["auc_drop_other"]["value"] == acc["other"]["auc_drop"]
    assert goals["inference_budget"]["value"] == res["inference"]["tflite_shipped_1t"]["median_ms"]
