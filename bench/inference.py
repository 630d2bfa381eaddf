"""Per-image inference: the shipped ``.tflite`` (whatever its quantization) on LiteRT vs the
float Keras model.

All variants get the same preprocessed images (batch of one, float32 raw pixels) and are
timed per call; the result is the median of many calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import time_calls


def bench_tflite(model_path: Path, inputs: list[np.ndarray], runs: int,
                 threads: tuple[int, ...] = (1, 2), name: str = "shipped") -> dict[str, Any]:
    """Median latency of ``TFLiteRunner.run`` (the app's runtime) per thread count, keyed
    ``tflite_{name}_{threads}t``."""
    from pneumonia_core.runtime import TFLiteRunner

    out: dict[str, Any] = {}
    for n in threads:
        runner = TFLiteRunner(model_path, num_threads=n)
        t = time_calls(lambda i, r=runner: r.run(inputs[i % len(inputs)]), runs, warmup=5)
        out[f"tflite_{name}_{n}t"] = t.to_dict()
    return out


def bench_keras(model: Any, size: int, inputs: list[np.ndarray], runs_predict: int,
                runs_compiled: int) -> dict[str, Any]:
    """Median latency of ``model.predict`` (the seed's way) and of a compiled ``tf.function``.

    TensorFlow uses its default thread pools (all usable cores)."""
    from bench.keras_models import compiled_call

    call = compiled_call(model, size)
    return {
        "keras_predict": time_calls(
            lambda i: model.predict(inputs[i % len(inputs)], verbose=0), runs_predict, warmup=3
        ).to_dict(),
        "keras_tf_function": time_calls(
            lambda i: call(inputs[i % len(inputs)]), runs_compiled, warmup=5
        ).to_dict(),
    }
