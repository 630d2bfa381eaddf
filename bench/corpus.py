"""Benchmark inputs: full-resolution JPEG folders and model-size arrays.

The 16 official full-resolution val images are used when present (repeated by symlink to
the requested count; every pass reads them from the page cache, like a warm folder on a
workstation); otherwise large grey JPEGs are generated.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

# The tests' generated film: the out-of-scope guard accepts it, so a fallback benchmark
# measures the whole pipeline (a cruder image would be refused before inference).
from bench.chest_like import chest_like_xray

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PNEUMONIA_DATA", ROOT.parent / "shared" / "data" / "chest_xray"))


def _generated_jpegs(work: Path, prefix: str, count: int, first_seed: int,
                    size: tuple[int, int], quality: int) -> list[Path]:
    """``work/<prefix>_<i>.jpeg`` for i < count (made once, seed ``first_seed + i``)."""
    work.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        p = work / f"{prefix}_{i}.jpeg"
        if not p.exists():
            Image.fromarray(chest_like_xray(first_seed + i, size)).save(p, quality=quality)
        out.append(p)
    return out


def full_resolution_sources(work: Path, generated: int = 8) -> tuple[list[Path], str]:
    """The real full-resolution val JPEGs, or generated 1500x1200 JPEGs in ``work``."""
    real = sorted((DATA / "val").glob("*/*.jpeg"))
    if real:
        return real, f"{len(real)} official full-resolution val JPEGs ({DATA / 'val'})"
    out = _generated_jpegs(work, "gen", generated, 0, (1500, 1200), quality=90)
    return out, f"{generated} generated 1500x1200 grey JPEGs (real val images absent)"


def small_sources(work: Path, generated: int = 64) -> tuple[list[Path], str]:
    """Real 224x224 train JPEGs, or generated small JPEGs."""
    real = sorted((DATA / "train").glob("*/*.jpeg"))
    if real:
        return real, f"{len(real)} real train JPEGs ({DATA / 'train'})"
    out = _generated_jpegs(work, "small", generated, 1000, (224, 224), quality=75)
    return out, f"{generated} generated 224x224 grey JPEGs (real train images absent)"


def repeated_folder(sources: list[Path], count: int, folder: Path) -> list[Path]:
    """``count`` files in ``folder``, symlinks cycling through ``sources`` (copies where the
    file system has no symlinks)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        src = Path(sources[i % len(sources)]).resolve()
        dst = folder / f"{i:05d}_{src.name}"
        if not dst.exists():
            try:
                dst.symlink_to(src)
            except OSError:
                dst.write_bytes(src.read_bytes())
        paths.append(dst)
    return paths


def model_inputs(paths: list[Path], size: int) -> list[np.ndarray]:
    """(1, S, S, 1) float32 inputs made by the app's loader."""
    from pneumonia_core.imageio import load_image

    return [load_image(p, size).astype(np.float32)[None, :, :, None] for p in paths]
