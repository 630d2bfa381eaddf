"""End-to-end tests of pneumonia-convert on a tiny contract-following Keras model.

The session fixture trains a 48x48 CAM model for a few seconds on generated X-ray-like images
(a bright blob marks PNEUMONIA) and writes a run folder the way ``pneumonia-train`` does.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import simple_xray

pytestmark = pytest.mark.slow

SIZE = 48


def _write_images(root: Path, split: str, n_per_class: int) -> list[dict]:
    entries = []
    for label, name in enumerate(("NORMAL", "PNEUMONIA")):
        folder = root / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            arr = simple_xray(zlib.crc32(f"conv/{split}/{name}/{i}".encode()), size=(96, 96),
                                 pneumonia=bool(label))
            path = folder / f"{split}-{name.lower()}-{i:03d}.jpeg"
            Image.fromarray(arr).save(path, quality=92)
            entries.append({"path": f"{split}/{name}/{path.name}", "label": label})
    return entries


def _build_model(size: int):
    import keras
    from keras import layers

    keras.utils.set_random_seed(7)
    inp = keras.Input((size, size, 1), name="image")
    x = layers.Rescaling(1 / 255.0)(inp)
    for filters in (8, 16):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.8)(x)
        x = layers.ReLU()(x)
    backbone = keras.Model(inp, x, name="backbone")
    outer = keras.Input((size, size, 1), name="image")
    feat = backbone(outer)
    cam = layers.Conv2D(1, 1, name="cam_head")(layers.Dropout(0.1)(feat))
    logit = layers.GlobalAveragePooling2D(name="logit")(cam)
    return keras.Model(outer, logit, name="tiny_cam")


def _load(root: Path, entries: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    from pneumonia_core.imageio import load_image

    x = np.stack([load_image(root / e["path"], SIZE) for e in entries]).astype(np.float32)
    return x[..., None], np.array([e["label"] for e in entries], np.float32)


def make_run(run_dir: Path, data_root: Path, model, split: dict, temperature: float,
             threshold: float) -> Path:
    """Write a run folder following the training contract (training/run.py)."""
    run_dir.mkdir(parents=True)
    model.save(run_dir / "model.keras")
    config = {"name": "tiny-test", "image_size": SIZE, "channels": 1, "width": 8, "ece_bins": 15}
    (run_dir / "config.json").write_text(json.dumps({
        "config": config, "config_digest": "0123456789abcdef",
        "data_fingerprint": "tiny-fingerprint", "data_root": str(data_root),
        "git_commit": "test-commit"}))
    (run_dir / "split.json").write_text(json.dumps(split))
    (run_dir / "calibration.json").write_text(json.dumps(
        {"method": "temperature", "temperature": temperature, "ece_before": 0.2, "ece_after": 0.05}))
    (run_dir / "threshold.json").write_text(json.dumps({
        "value": threshold, "rule": "test: fixed", "target_sensitivity": 0.98,
        "sensitivity": 1.0, "specificity": 1.0}))
    (run_dir / "report.json").write_text(json.dumps(
        {"roc_auc": 1.0, "sensitivity": 1.0, "specificity": 1.0, "ece": 0.05}))
    (run_dir / "report.md").write_text("# Evaluation report\n")
    (run_dir / "plots").mkdir()
    Image.fromarray(np.full((8, 8), 128, np.uint8)).save(run_dir / "plots" / "roc.png")
    return run_dir


def train_tiny_model(base: Path, n_val: int, repeats: int, epochs: int) -> tuple[Path, Any, dict]:
    """Generated train/val images under ``base/data`` and the contract model fitted on the
    train images (each seen ``repeats`` times per epoch): (data root, model, split)."""
    import keras

    data_root = base / "data"
    train = _write_images(data_root, "train", 30)
    val = _write_images(data_root, "val", n_val)
    x, y = _load(data_root, train)
    model = _build_model(SIZE)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(np.repeat(x, repeats, axis=0), np.repeat(y, repeats, axis=0), batch_size=20,
              epochs=epochs, verbose=0, shuffle=True)
    split = {"data_root": str(data_root), "seed": 1, "val_fraction": 0.5, "limit": None,
             "train": train, "val": val}
    return data_root, model, split


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("tiny_run")
    data_root, model, split = train_tiny_model(base, n_val=50, repeats=4, epochs=25)
    xv, yv = _load(data_root, split["val"])
    logits = np.asarray(model(xv, training=False)).ravel()
    from pneumonia_core.metrics import roc_auc

    assert roc_auc(yv, logits) > 0.95, "the tiny fixture model did not learn the synthetic task"
    # Threshold in the widest gap between the classes' calibrated probabilities.
    temperature = 1.5
    probs = 1 / (1 + np.exp(-logits / temperature))
    threshold = float((probs[yv == 0].max() + probs[yv == 1].min()) / 2) \
        if probs[yv == 0].max() < probs[yv == 1].min() else 0.5
    threshold = min(max(threshold, 0.02), 0.98)
    run_dir = make_run(base / "run", data_root, model, split, temperature, threshold)
    return {"run": run_dir, "data_root": data_root, "model": model, "xv": xv, "yv": yv,
            "base": base, "split": split, "threshold": threshold}


@pytest.fixture(scope="module")
def converted(tiny: dict) -> dict:
    from converter.convert import ConvertOptions, convert_run

    out = tiny["base"] / "model"
    result = convert_run(tiny["run"], out, ConvertOptions(quantization="int8", calibration_images=40,
                                                          measure_scope=False))
    return {"out": out, "result": result}


def test_int8_model_matches_keras_on_the_same_inputs(tiny: dict, converted: dict) -> None:
    from pneumonia_core.runtime import TFLiteRunner
    from training.model import build_export_model

    runner = TFLiteRunner(converted["out"] / "model.tflite")
    export = build_export_model(tiny["model"])
    xv = tiny["xv"][:20]
    keras_out = export(xv, training=False)
    lite_logits = np.array([float(np.ravel(runner.run(x[None])["logit"])[0]) for x in xv])
    keras_logits = np.asarray(keras_out["logit"]).ravel()
    spread = keras_logits.max() - keras_logits.min()
    assert spread > 1.0
    # An 8/16-filter toy quantizes coarsely (a real model's error is far smaller); the bound is
    # wide but still fails for a broken conversion, and the ranking must be preserved.
    assert np.max(np.abs(lite_logits - keras_logits)) < 0.2 * spread
    assert np.corrcoef(lite_logits, keras_logits)[0, 1] > 0.98
    report = converted["result"].report
    assert report.passed and report.agreement >= 0.99
    assert abs(report.auc_drop) <= 0.005


def test_int8_logit_is_the_float_mean_of_the_cam_not_one_of_256_levels(tiny: dict,
                                                                        converted: dict) -> None:
    from pneumonia_core.runtime import TFLiteRunner

    runner = TFLiteRunner(converted["out"] / "model.tflite")
    outs = [runner.run(x[None]) for x in tiny["xv"]]
    logits = np.array([float(np.ravel(o["logit"])[0]) for o in outs])
    cam_means = np.array([float(np.mean(o["cam"])) for o in outs])
    # the pool runs in float on the dequantized CAM: its mean IS the logit ...
    np.testing.assert_allclose(logits, cam_means, rtol=0, atol=1e-5)
    # ... and no int8 output grid: every distinct film gets its own score (a requantized int8
    # logit puts these 100 films on a few dozen levels)
    assert len(np.unique(logits)) >= 0.97 * len(logits)
    step = np.diff(np.unique(logits))
    assert step.min() < 0.01 * (logits.max() - logits.min()) / 255


def test_heatmap_has_the_declared_shape_and_follows_the_keras_map(tiny: dict, converted: dict) -> None:
    from pneumonia_core.model import ModelBundle
    from training.model import build_export_model

    bundle = ModelBundle.load(converted["out"])
    export = build_export_model(tiny["model"])
    cam_shape = bundle.metadata.outputs["cam"]["shape"]
    assert cam_shape == [1, SIZE // 4, SIZE // 4]
    positives = np.where(tiny["yv"] == 1)[0][:8]
    for i in positives:
        gray = tiny["xv"][i, :, :, 0].astype(np.uint8)
        pred = bundle.predict(gray)
        keras_cam = np.asarray(export(tiny["xv"][i : i + 1], training=False)["cam"])[0]
        assert pred.cam.shape == tuple(cam_shape[1:]) == keras_cam.shape
        assert np.corrcoef(pred.cam.ravel(), keras_cam.ravel())[0, 1] > 0.9
        # The CAM's mean is the logit (the app relies on this to explain the score).
        assert abs(float(pred.cam.mean()) - pred.logit) < 0.05 * max(1.0, abs(pred.logit))


def test_metadata_round_trips_and_pins_the_tflite_hash(tiny: dict, converted: dict) -> None:
    from pneumonia_core.metadata import ModelMetadata, sha256_file
    from pneumonia_core.model import ModelBundle, ModelError

    out = converted["out"]
    meta = ModelMetadata.load(out)
    assert ModelMetadata.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta
    assert meta.sha256 == sha256_file(out / "model.tflite")
    assert meta.input.shape == [1, SIZE, SIZE, 1]
    assert meta.quantization == "int8"
    assert meta.threshold_value == pytest.approx(tiny["threshold"])
    assert meta.temperature == pytest.approx(1.5)
    assert set(meta.outputs) == {"logit", "cam", "embedding"}
    assert meta.validation["n_images"] == len(tiny["yv"])
    assert meta.validation["roc_auc"] == pytest.approx(converted["result"].report.converted["roc_auc"])
    assert meta.training["config_digest"] == "0123456789abcdef"
    assert meta.training["data_fingerprint"] == "tiny-fingerprint"
    assert len(meta.scope["embedding_mean"]) == meta.outputs["embedding"]["shape"][1]
    assert meta.scope["max_distance"] > 0
    assert "pixels" in meta.scope  # image statistics fitted on the 60 training images
    card = (out / "MODEL_CARD.md").read_text()
    assert meta.sha256 in card and "Not measured" in card and "Keras float32" in card
    assert (out / "plots" / "reliability_converted.png").stat().st_size > 1000
    assert (out / "plots" / "roc.png").is_file() and (out / "report.json").is_file()
    # metadata.json is the one source of the threshold and calibration: no run copies beside it
    assert not (out / "threshold.json").exists() and not (out / "calibration.json").exists()
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["run"] == tiny["run"].name and recipe["calibration_images"] == 40
    assert "force" not in recipe
    # nothing written holds an absolute path of this machine (tmp_path is absolute)
    for f in out.rglob("*"):
        if f.is_file() and f.suffix in (".json", ".md"):
            text = f.read_text()
            assert str(tiny["base"]) not in text and str(Path.home()) + "/" not in text, f.name
    # A flipped byte in the model must be caught by the app's loader.
    tampered = tiny["base"] / "tampered"
    tampered.mkdir()
    data = bytearray((out / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tampered / "model.tflite").write_bytes(bytes(data))
    (tampered / "metadata.json").write_text((out / "metadata.json").read_text())
    for kept in out.glob("*.npy"):  # the guard's statistics the metadata names
        (tampered / kept.name).write_bytes(kept.read_bytes())
    with pytest.raises(ModelError, match="integrity"):
        ModelBundle.load(tampered)


def test_refuses_a_degraded_model_and_writes_nothing(tiny: dict) -> None:
    from converter.convert import ConversionRefused, ConvertOptions, convert_run

    out = tiny["base"] / "degraded"
    # Calibrating int8 ranges on blank frames squeezes every real X-ray into a few codes.
    blank = np.zeros((20, SIZE, SIZE, 1), np.float32)
    with pytest.raises(ConversionRefused) as info:
        convert_run(tiny["run"], out, ConvertOptions(quantization="int8", measure_scope=False),
                    calibration_override=blank)
    assert info.value.report.failures
    assert "Nothing was written" in str(info.value)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".degraded")]


def test_refuses_a_broken_calibration(tiny: dict, tmp_path: Path, caplog) -> None:
    from converter.cli import main

    run = tmp_path / "run"
    import shutil

    shutil.copytree(tiny["run"], run)
    (run / "calibration.json").write_text(json.dumps({"method": "temperature", "temperature": -1.0}))
    out = tmp_path / "model"
    assert main([str(run), "--out", str(out), "--calibration-images", "20", "--skip-scope-eval"]) == 1
    assert "temperature" in caplog.text
    assert not out.exists() and not list(tmp_path.glob(".model*"))


def test_refuses_to_overwrite_unless_forced(tiny: dict, converted: dict, caplog) -> None:
    from converter.cli import main

    out = converted["out"]
    before = (out / "model.tflite").read_bytes()
    code = main([str(tiny["run"]), "--out", str(out), "--skip-scope-eval"])
    assert code == 2
    assert "already exists" in caplog.text and "--force" in caplog.text
    assert (out / "model.tflite").read_bytes() == before
    # --force replaces it; without --quantization the converter writes float32 (the release's
    # choice, training/EXPERIMENTS.md), whose scores are the Keras model's own
    assert main([str(tiny["run"]), "--out", str(out), "--force",
                 "--calibration-images", "20", "--skip-scope-eval"]) == 0
    from pneumonia_core.metadata import ModelMetadata
    from pneumonia_core.model import ModelBundle

    assert ModelMetadata.load(out).quantization == "float32"
    bundle = ModelBundle.load(out)
    logits = [bundle.predict(x[:, :, 0].astype(np.uint8)).logit for x in tiny["xv"][:8]]
    keras_logits = np.asarray(tiny["model"](tiny["xv"][:8], training=False)).ravel()
    np.testing.assert_allclose(logits, keras_logits, atol=1e-3)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".model.")]


def test_out_of_scope_figures_reach_the_card_and_metadata(tiny: dict, tmp_path: Path,
                                                          monkeypatch) -> None:
    import sys
    import types

    from converter.convert import ConvertOptions, convert_run
    from pneumonia_core.metadata import ModelMetadata

    calls = []

    def evaluate_scope(model_dir: Path, val_paths: list[Path]) -> dict:
        meta = ModelMetadata.load(model_dir)  # the folder is complete when it is measured
        assert (Path(model_dir) / meta.file).is_file()
        calls.append(len(val_paths))
        return {"ood_caught_rate": np.float64(0.975), "xray_rejected_rate": np.float32(0.0)}

    fake = types.ModuleType("converter.scope_eval")
    fake.evaluate_scope = evaluate_scope
    monkeypatch.setitem(sys.modules, "converter.scope_eval", fake)
    out = tmp_path / "model"
    convert_run(tiny["run"], out, ConvertOptions(calibration_images=20))
    assert calls == [len(tiny["yv"])]
    meta = ModelMetadata.load(out)
    assert meta.validation["out_of_scope"] == {
        "measured": True, "ood_caught_rate": 0.975, "xray_rejected_rate": 0.0}
    card = (out / "MODEL_CARD.md").read_text()
    assert "| ood_caught_rate | 0.9750 |" in card and "Not measured" not in card


def test_rethreshold_applies_the_runs_rule_to_the_converted_model(tiny: dict, tmp_path: Path) -> None:
    from converter.convert import ConvertOptions, convert_run
    from pneumonia_core.metrics import sensitivity_specificity
    from pneumonia_core.model import ModelBundle

    out = tmp_path / "model"
    convert_run(tiny["run"], out, ConvertOptions(calibration_images=20, measure_scope=False,
                                                 rethreshold=True))
    bundle = ModelBundle.load(out)
    thr = bundle.metadata.threshold
    assert thr["run_value"] == pytest.approx(tiny["threshold"])
    assert "re-applied" in thr["rule"]
    probs = [bundle.predict(x[:, :, 0].astype(np.uint8)).probability for x in tiny["xv"]]
    sens, spec = sensitivity_specificity(tiny["yv"], probs, thr["value"])
    assert sens >= 0.98
    assert (sens, spec) == (pytest.approx(thr["sensitivity"]), pytest.approx(thr["specificity"]))
    assert "--rethreshold" in (out / "MODEL_CARD.md").read_text()


def test_external_set_is_scored_as_classify_would_and_fits_the_operating_point(
        tiny: dict, tmp_path: Path) -> None:
    from converter.convert import ConvertOptions, convert_run
    from pneumonia_core.metadata import ModelMetadata
    from pneumonia_core.metrics import sensitivity_specificity
    from pneumonia_core.model import ModelBundle
    from pneumonia_core.pipeline import classify_many

    external = tiny["data_root"] / "val"  # any labelled NORMAL/ + PNEUMONIA/ folder
    out = tmp_path / "model"
    convert_run(tiny["run"], out, ConvertOptions(
        calibration_images=20, measure_scope=False, external=external, external_name="ext",
        fit_on_external=True, external_target_sensitivity=0.98, selected_on_external=True))
    meta = ModelMetadata.load(out)
    assert meta.calibration["method"] == "logistic" and "ext" in meta.calibration["fitted_on"]
    assert "ext" in meta.threshold["fitted_on"] and meta.threshold["target_sensitivity"] == 0.98
    assert not (out / "threshold.json").exists() and not (out / "calibration.json").exists()
    # what classify says with the shipped folder reproduces the recorded external figures
    files = sorted(external.glob("*/*.jpeg"))
    results = list(classify_many(files, ModelBundle.load(out)))
    ok = [(r, 1 if "PNEUMONIA" in r.path else 0) for r in results if r.status == "ok"]
    sens, spec = sensitivity_specificity([y for _, y in ok], [r.probability for r, _ in ok],
                                         meta.threshold_value)
    ext = meta.validation["external"]
    assert ext["n_files"] == len(files) and ext["n"] == len(ok)
    assert ext["sensitivity"]["value"] == pytest.approx(sens) and sens >= 0.98
    assert ext["specificity"]["value"] == pytest.approx(spec)
    assert ext["usage"] == "selection, calibration and threshold"
    lo, hi = ext["roc_auc"]["ci_low"], ext["roc_auc"]["ci_high"]
    assert lo <= ext["roc_auc"]["value"] <= hi
    perf = json.loads((out / "validation.json").read_text())["performance"]
    assert perf["validation"]["n"] == len(tiny["yv"]) and perf["external"]["name"] == "ext"
    card = (out / "MODEL_CARD.md").read_text()
    assert "| external set `ext` | selection, calibration and threshold |" in card
    assert "| validation split (carved from train/) | selection of the checkpoint |" in card
    assert "Logistic calibration" in card and str(tiny["base"]) not in card


def test_external_options_need_a_folder(tiny: dict, tmp_path: Path, caplog) -> None:
    from converter.cli import main

    out = tmp_path / "model"
    assert main([str(tiny["run"]), "--out", str(out), "--fit-on-external"]) == 2
    assert "--external" in caplog.text
    assert main([str(tiny["run"]), "--out", str(out), "--external", str(tmp_path / "nope")]) == 2
    assert not out.exists()


def test_converting_into_the_apps_folder_pins_it(tiny: dict, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """pneumonia-convert --out resources/model rewrites pneumonia_core/pinned_model.py, so the new
    folder loads as verified (docs/model-integrity.md); another --out pins nothing."""
    import runpy

    from converter import pin
    from converter.convert import ConvertOptions, convert_run
    from pneumonia_core import integrity
    from pneumonia_core.model import ModelBundle

    shipped = tmp_path / "resources" / "model"
    pin_file = tmp_path / "pinned_model.py"
    monkeypatch.setattr(integrity, "shipped_model_dir", lambda: shipped)
    monkeypatch.setattr(pin, "PIN_FILE", pin_file)
    convert_run(tiny["run"], tmp_path / "elsewhere", ConvertOptions(calibration_images=20,
                                                                    measure_scope=False))
    assert not pin_file.exists()
    from pneumonia_core import pinned_model

    real_pin = pinned_model.FOLDER_DIGEST
    convert_run(tiny["run"], shipped, ConvertOptions(calibration_images=20, measure_scope=False))
    assert pinned_model.FOLDER_DIGEST == real_pin, "a pin written elsewhere changed this process's"
    pinned = runpy.run_path(str(pin_file))
    assert pinned["FOLDER_DIGEST"] == integrity.folder_digest(shipped)
    assert pinned["MODEL_SHA256"] == json.loads((shipped / "metadata.json").read_text())["sha256"]
    own = integrity.Pin(pinned["FOLDER_DIGEST"], pinned["FILES"])
    bundle = ModelBundle.load(shipped, pin=own)
    assert bundle.verified
    from pneumonia_core.builtin_image import predict_builtin

    assert predict_builtin(bundle).probability == pytest.approx(pinned["SELF_TEST_PROBABILITY"])


def test_the_acquisition_shift_section_is_generated_from_the_suites_results(
        converted: dict, tmp_path: Path) -> None:
    import shutil

    from converter.shift_card import HEADING, refresh
    from pneumonia_core.metadata import ModelMetadata

    out = tmp_path / "model"
    shutil.copytree(converted["out"], out)
    card = (out / "MODEL_CARD.md").read_text()
    assert f"## {HEADING}" in card and "No shift-suite figures for this model file" in card
    meta = ModelMetadata.load(out)
    s = {"films": 10, "refused": 1, "refused_fraction": 0.1, "refused_ci": [0.003, 0.445],
         "refused_by_check": {"layout": 1}, "errors": 0,
         "roc_auc": {"value": 0.9613, "ci_low": 0.9, "ci_high": 1.0},
         "sensitivity": {"value": 0.98, "ci_low": 0.9, "ci_high": 1.0},
         "specificity": {"value": 0.71, "ci_low": 0.5, "ci_high": 0.9},
         "ece": {"value": 0.04, "ci": [0.02, 0.08]}}
    other = json.loads(json.dumps(s)) | {"refused": 7}
    results = {"data": ["test_public"], "films_total": 10, "seed": 0, "models": [
        {"model": "other 1.0.0 (abc)", "sha256": "0" * 64, "threshold": 0.3,
         "summary": {"combined": other}},
        {"model": "this", "sha256": meta.sha256, "threshold": 0.25,
         "summary": {"combined": s}}]}
    path = tmp_path / "shift_results.json"
    path.write_text(json.dumps(results))
    assert refresh(out, path) is True
    new = (out / "MODEL_CARD.md").read_text()
    assert "No shift-suite figures for this model file" not in new
    assert "| combined | 10 | 1 (10.0%; 0.3%-44.5%) | layout 1 | 0.961 (0.900-1.000) |" in new
    assert "| combined | 1 / 7 |" in new  # paired with the other model of the same run
    assert new.count(f"## {HEADING}") == 1
    # the rest of the card and the metadata are untouched
    assert new.split(f"## {HEADING}")[0] == card.split(f"## {HEADING}")[0]
    assert ModelMetadata.load(out) == meta
    # results of other models only: the section says this one was not measured
    path.write_text(json.dumps(results | {"models": results["models"][:1]}))
    assert refresh(out, path) is False
    assert "No shift-suite figures for this model file" in (out / "MODEL_CARD.md").read_text()
