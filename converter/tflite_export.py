"""Export the contract's export model and convert it to TensorFlow Lite.

Path (verified): ``keras.export.ExportArchive`` endpoint ``serving_default`` with one input
``TensorSpec([1, S, S, C], float32, name="image")`` -> SavedModel ->
``tf.lite.TFLiteConverter.from_saved_model``. The TFLite signature keeps the dict output
names ``logit``, ``cam`` and ``embedding``. (``from_concrete_functions`` fails with
READ_VARIABLE during int8 calibration.)
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

QUANTIZATIONS = ("int8", "float16", "float32")
OUTPUT_NAMES = ("logit", "cam", "embedding")
INPUT_NAME = "image"


def export_saved_model(export_model: Any, folder: Path) -> None:
    """Write ``export_model`` as a SavedModel with the ``serving_default`` endpoint."""
    import keras
    import tensorflow as tf

    _, s, s2, c = export_model.input_shape
    spec = tf.TensorSpec([1, s, s2, c], tf.float32, name=INPUT_NAME)
    archive = keras.export.ExportArchive()
    archive.track(export_model)
    archive.add_endpoint("serving_default", export_model.call, input_signature=[spec])
    archive.write_out(str(folder), verbose=False)


def convert(
    export_model: Any,
    quantization: str = "int8",
    representative: Callable[[], Iterator[np.ndarray]] | None = None,
) -> bytes:
    """Convert the export model to a ``.tflite`` flatbuffer.

    ``int8``: full-integer post-training quantization (TFLITE_BUILTINS_INT8 only) with float
    input and output, calibrated on ``representative()`` images, each ``(1, S, S, C)`` float32
    raw pixels. ``float16``: float16 weights. ``float32``: no quantization.
    """
    import tensorflow as tf

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}; received {quantization!r}")
    if quantization == "int8" and representative is None:
        raise ValueError("int8 quantization needs representative images")
    with tempfile.TemporaryDirectory(prefix="pneumonia-export-") as tmp:
        export_saved_model(export_model, Path(tmp))
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if quantization == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]

            def dataset() -> Iterator[dict[str, np.ndarray]]:
                for image in representative():
                    yield {INPUT_NAME: np.asarray(image, np.float32)}

            converter.representative_dataset = dataset
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.float32
            converter.inference_output_type = tf.float32
        elif quantization == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        model_bytes = converter.convert()
    log.info("converted to %s TFLite: %.1f kB", quantization, len(model_bytes) / 1024)
    return model_bytes
