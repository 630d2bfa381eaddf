"""Export the contract's export model and convert it to TensorFlow Lite.

Path (verified): ``keras.export.ExportArchive`` endpoint ``serving_default`` with one input
``TensorSpec([1, S, S, C], float32, name="image")`` -> SavedModel ->
``tf.lite.TFLiteConverter.from_saved_model``. The TFLite signature keeps the dict output
names ``logit``, ``cam`` and ``embedding``. (``from_concrete_functions`` fails with
READ_VARIABLE during int8 calibration.)

int8 keeps the last step in float: every ``MEAN`` (the global average pools that make the
``logit`` from the CAM and the ``embedding`` from the feature map) is left unquantized, so the
logit is the float mean of the dequantized CAM instead of one of 256 int8 levels (the shipped
1.0.0 model gave 123 distinct probabilities on 624 test films), and the CAM's mean still equals
the logit. Everything before the pools stays int8.
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
#: What ``pneumonia-convert`` (and so the release) writes unless told otherwise. float32: on the
#: width-48 members int8 was only 1.3x faster per image on one thread, yet a JPEG q95
#: re-encoding of a film moved the int8 logit 3.5x as far as the float one (0.15 vs 0.043 on the
#: 16 official val films; training/EXPERIMENTS.md "int8 or float32").
DEFAULT_QUANTIZATION = "float32"
OUTPUT_NAMES = ("logit", "cam", "embedding")
FLOAT_OPS = ("MEAN",)  # ops int8 conversion leaves in float (see the module docstring)
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

    ``int8``: integer post-training quantization with float input and output, calibrated on
    ``representative()`` images, each ``(1, S, S, C)`` float32 raw pixels; only the
    :data:`FLOAT_OPS` (the final pools) stay in float. ``float16``: float16 weights.
    ``float32``: no quantization.
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
            # int8 kernels everywhere except the denylisted float pools, which need the float
            # builtins.
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                                   tf.lite.OpsSet.TFLITE_BUILTINS]
            converter.inference_input_type = tf.float32
            converter.inference_output_type = tf.float32
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=dataset,
                debug_options=tf.lite.experimental.QuantizationDebugOptions(
                    denylisted_ops=list(FLOAT_OPS)))
            model_bytes = debugger.get_nondebug_quantized_model()
            log.info("converted to int8 TFLite (%s in float): %.1f kB", ", ".join(FLOAT_OPS),
                     len(model_bytes) / 1024)
            return model_bytes
        elif quantization == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        model_bytes = converter.convert()
    log.info("converted to %s TFLite: %.1f kB", quantization, len(model_bytes) / 1024)
    return model_bytes
