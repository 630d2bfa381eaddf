"""Projection for the training module's default architecture while the shipped model is
still another network (the development placeholder): convert the default architecture with
random weights, in the shipped model's precision, by the converter's own path
(:func:`bench.quantization.build_model_folder`), write it as a model folder beside a copy
of the shipped metadata, and run the same inference and throughput benchmarks on it.

Random weights change no FLOPs, so the timings predict the real model's; accuracy is not
projected. Skipped once the shipped model is the default architecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def build_projection_model_dir(model_dir: Path, calibration_images: list[Path],
                               out_dir: Path, quantization: str = "int8") -> tuple[Path, Any]:
    """(model folder with the default architecture as a ``quantization`` .tflite, its float
    Keras model); ``calibration_images`` calibrate an int8 conversion."""
    from bench.keras_models import quiet_tf
    from bench.quantization import build_model_folder

    quiet_tf()
    from pneumonia_core.imageio import load_image
    from pneumonia_core.runtime import TFLiteRunner
    from training.config import get_preset
    from training.model import build_export_model, build_model

    cfg = get_preset("default")
    model = build_model(cfg)
    size = cfg.image_size
    images = [load_image(p, size).astype(np.float32)[None, :, :, None] for p in calibration_images]

    def edit(meta: dict[str, Any], data: bytes) -> None:
        runner = TFLiteRunner(data)
        meta["name"] = f"projection-{cfg.architecture}-random-weights"
        meta["input"]["shape"] = [1, size, size, 1]
        meta["outputs"] = {k: {"name": k, "shape": [int(x) for x in v["shape"]]}
                           for k, v in runner.output_details.items()}
        # The app refuses an incomplete scope (pneumonia_core.metadata_checks): keep the shipped
        # image statistics (they describe images, not the model) and give the random-weight
        # model's features a neutral standardisation with an explicit no-op limit.
        width = int(np.prod(runner.output_details["embedding"]["shape"][1:]))
        meta["scope"] = {**meta.get("scope", {}), "embedding_mean": [0.0] * width,
                         "embedding_std": [1.0] * width, "max_distance": 1e9,
                         "distance_rule": "none: random-weight projection model (benchmark only)"}

    build_model_folder(model_dir, build_export_model(model), quantization, images, out_dir, edit)
    return out_dir, model
