"""On-disk sizes: the shipped int8 model, the same network in float32, the bundle folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench import machine


def folder_bytes(folder: Path) -> int:
    """Total size of the regular files under ``folder`` (symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def mb(n: int) -> float:
    return round(n / 1e6, 3)


def bench_sizes(model_dir: Path, keras_model: Any | None, run_dir: Path | None,
                bundle_dir: Path) -> dict[str, Any]:
    from pneumonia_core.metadata import ModelMetadata

    meta = ModelMetadata.load(model_dir)
    out: dict[str, Any] = {"int8_tflite_mb": mb((model_dir / meta.file).stat().st_size),
                           "model_quantization": meta.quantization}
    if keras_model is not None and run_dir is not None:
        # the converter's own path, as the shipped int8 model was made, without quantization
        import warnings

        from converter.tflite_export import convert
        from training.model import build_export_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out["float32_tflite_mb"] = mb(len(convert(build_export_model(keras_model), "float32")))
        out["float32_how"] = "converter.tflite_export.convert(export model, 'float32')"
    elif keras_model is not None:
        from bench.keras_models import float32_tflite_bytes

        out["float32_tflite_mb"] = mb(len(float32_tflite_bytes(keras_model)))
        out["float32_how"] = "tf.lite.TFLiteConverter.from_keras_model (no quantization)"
    if run_dir is not None and (run_dir / "model.keras").is_file():
        out["keras_file_mb"] = mb((run_dir / "model.keras").stat().st_size)
    if bundle_dir.is_dir():
        out["bundle_mb"] = mb(folder_bytes(bundle_dir))
    else:
        out["bundle_mb"] = None
        out["bundle_note"] = f"no built bundle at {machine.shown_path(bundle_dir)}"
    return out
