"""The quantization trade-off, measured in the same run whatever precision is shipped.

The shipped network is converted once more, in the OTHER precision, by the converter's own
function (:func:`converter.tflite_export.convert`): a float32 conversion when the shipped model
is int8, an int8 conversion otherwise (int8 calibrated on training-split images drawn as
``pneumonia-convert`` draws them). The result is written as a model folder beside a copy of the
shipped metadata (same calibration and threshold), so :mod:`bench.accuracy` can score it through
the app's own :class:`pneumonia_core.model.ModelBundle`. Both ``.tflite`` files are timed here,
one after the other on the same inputs, on one thread; the other one's size is recorded too
(the shipped one's is :mod:`bench.sizes`').
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: The folder (under the bench's work folder) that holds the other-precision model.
OTHER_MODEL_DIR = "other_precision_model"


def other_quantization(shipped: str) -> str:
    """The precision the shipped one is compared with: float32 for int8, int8 otherwise."""
    return "float32" if shipped == "int8" else "int8"


def representative_images(run_dir: Path | None, fallback: list[Path], n: int, size: int,
                          seed: int = 0) -> tuple[list[np.ndarray], str]:
    """``n`` calibration images, each (1, S, S, 1) float32, and where they came from.

    With a run folder: the converter's seeded draw from the run's training split
    (:func:`converter.convert.training_draw`, seed 0 as ``pneumonia-convert`` defaults to).
    Without one: the benchmark's own image corpus ``fallback`` (said so in the description)."""
    from pneumonia_core.imageio import load_image

    if run_dir is not None:
        from converter.convert import training_draw
        from training.run import load_run

        train = load_run(run_dir).split["train"]
        drawn = training_draw(SimpleNamespace(train=train), n, seed)  # type: ignore[arg-type]
        paths = [p for p, _ in drawn]
        how = f"{len(paths)} training-split images of the run (converter's draw, seed {seed})"
    else:
        paths = list(fallback[:n])
        how = f"{len(paths)} benchmark corpus images (no --run-dir)"
    return [load_image(p, size).astype(np.float32)[None, :, :, None] for p in paths], how


def build_model_folder(model_dir: Path, export_model: Any, quantization: str,
                       images: list[np.ndarray], out_dir: Path,
                       edit: Callable[[dict[str, Any], bytes], None] | None = None) -> Path:
    """Convert ``export_model`` to ``quantization`` by the converter's own function (``images``
    calibrate an int8 conversion) and write it as a model folder holding a copy of the shipped
    metadata (file, digest and quantization updated; ``edit(meta, tflite_bytes)`` may change
    more before it is written)."""
    from bench.keras_models import quiet_tf

    quiet_tf()
    from converter import model_folder
    from converter.tflite_export import convert
    from pneumonia_core.atomic_files import atomic_write_bytes
    from pneumonia_core.metadata import sha256_bytes

    with warnings.catch_warnings():  # TF's converter warns about its own tf.lite.Interpreter
        warnings.simplefilter("ignore", UserWarning)
        data = convert(export_model, quantization,
                       (lambda: iter(images)) if quantization == "int8" else None)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_dir / "model.tflite", data)
    meta = model_folder.read_json(model_dir)
    meta.update(file="model.tflite", sha256=sha256_bytes(data), quantization=quantization)
    if edit is not None:
        edit(meta, data)
    model_folder.write(out_dir, meta)
    return out_dir


def bench_quantization(model_dir: Path, float_model: Any, run_dir: Path | None,
                       corpus_images: list[Path], inputs: list[np.ndarray], runs: int,
                       calibration_images: int, out_dir: Path) -> dict[str, Any]:
    """1-thread latency of the shipped ``.tflite`` and of the same network in the other
    precision, and the other one's file size; the other model folder is left in ``out_dir``
    for the accuracy check."""
    from bench.inference import bench_tflite
    from bench.sizes import mb
    from pneumonia_core.metadata import ModelMetadata
    from training.model import build_export_model

    meta = ModelMetadata.load(model_dir)
    shipped, other = meta.quantization, other_quantization(meta.quantization)
    out: dict[str, Any] = {"shipped": shipped, "other": other}
    images: list[np.ndarray] = []
    if other == "int8":
        images, out["calibration"] = representative_images(
            run_dir, corpus_images, calibration_images, meta.input.size)
    build_model_folder(model_dir, build_export_model(float_model), other, images, out_dir)
    out["other_how"] = f"converter.tflite_export.convert(export model, {other!r})"
    # the shipped file's size is the sizes section's shipped_tflite_mb (one place)
    out[f"{other}_tflite_mb"] = mb((out_dir / "model.tflite").stat().st_size)
    for name, path in ((shipped, model_dir / meta.file), (other, out_dir / "model.tflite")):
        out.update(bench_tflite(path, inputs, runs, threads=(1,), name=name))
    return out
