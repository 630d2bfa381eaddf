"""Shared bits of the training tests: a tiny, fast configuration and CLI wrapper."""

from __future__ import annotations

from pathlib import Path

# 64x64 inputs and 8 base filters: a training step takes milliseconds.
TINY_SETS = ["image_size=64", "width=8", "batch_size=8"]


def tiny_train_args(data: Path, out: Path, cache: Path, *extra: str, epochs: int = 1,
                    seed: int = 3) -> list[str]:
    args = ["--data", str(data), "--out", str(out), "--epochs", str(epochs), "--seed", str(seed),
            "--cache-dir", str(cache)]
    for s in TINY_SETS:
        args += ["--set", s]
    return args + list(extra)
