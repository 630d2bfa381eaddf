"""Shared bits of the training tests: a tiny, fast configuration and CLI wrapper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# 64x64 inputs and 8 base filters: a training step takes milliseconds. The acquisition
# augmentation is on, so the determinism and resume tests cover its random draws too.
TINY_SETS = ["image_size=64", "width=8", "batch_size=8", "augmentation.gamma=0.4",
             "augmentation.window=0.1", "augmentation.blur_sharpen=1.0", "augmentation.noise=0.02",
             "augmentation.resample=0.4", "augmentation.marker_p=0.5"]


def tiny_train_args(data: Path, out: Path, cache: Path, *extra: str, epochs: int = 1,
                    seed: int = 3) -> list[str]:
    args = ["--data", str(data), "--out", str(out), "--epochs", str(epochs), "--seed", str(seed),
            "--cache-dir", str(cache)]
    for s in TINY_SETS:
        args += ["--set", s]
    return args + list(extra)


def tiny_config(epochs: int = 1, seed: int = 3, sets: list[str] | None = None) -> Any:
    """The configuration :func:`tiny_train_args` gives on the command line, for ``train()``."""
    from training.cli import apply_sets
    from training.config import get_preset

    cfg = get_preset("default").with_overrides(epochs=epochs, seed=seed)
    return apply_sets(cfg, TINY_SETS + list(sets or []))
