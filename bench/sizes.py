"""On-disk sizes: the shipped model, the run's Keras file, the bundle folder."""

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


def bench_sizes(model_dir: Path, run_dir: Path | None, bundle_dir: Path) -> dict[str, Any]:
    """The shipped ``.tflite`` (whatever its quantization), the run's Keras file, the bundle.
    The same network in the other precision is sized by :mod:`bench.quantization`."""
    from pneumonia_core.metadata import ModelMetadata

    meta = ModelMetadata.load(model_dir)
    out: dict[str, Any] = {"shipped_tflite_mb": mb((model_dir / meta.file).stat().st_size),
                           "model_quantization": meta.quantization}
    if run_dir is not None and (run_dir / "model.keras").is_file():
        out["keras_file_mb"] = mb((run_dir / "model.keras").stat().st_size)
    if bundle_dir.is_dir():
        out["bundle_mb"] = mb(folder_bytes(bundle_dir))
    else:
        out["bundle_mb"] = None
        out["bundle_note"] = f"no built bundle at {machine.shown_path(bundle_dir)}"
    return out
