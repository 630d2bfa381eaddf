"""Acquisition variants of training films, for fitting the out-of-scope guard (issue 21).

The guard's image-statistics ranges and layout components were fitted on one hospital's films
as its PACS exported them, so a chest film from other equipment (another detector, vendor
edge enhancement, another display curve, collimator borders, burned-in annotations) fell
outside them and was refused as "not a chest X-ray". Fitting on each training film AND a few
variants of it made here teaches the guard what a chest film from another site may look like,
while inputs that are not chest films stay outside (measured: docs/out-of-scope.md).

Every variant applies each kind of difference with some probability and draws its strength
from a wide range, on the ``S x S`` model input (uint8). The ranges are broad physical ones,
written independently of the shift suite that measures the guard (``bench/shift_suite.py``),
so the guard is not fitted to the suite's own transforms. Seeded: the same films and seed give
the same variants.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: Variants made per training film by default (the originals are always kept).
DEFAULT_VARIANTS = 2
#: What :func:`acquisition_variant` may do, for metadata and the model card.
DESCRIPTION = ("per variant, each with probability 0.5: rotation up to 10 degrees (cropped), "
               "collimation borders (black or white, 1-4 sides, 2-20 % each), sensor noise "
               "(sigma up to 8 of 255), unsharp masking or blur (amount -0.5..1.5, radius "
               "0.7-6 px at 224), a display curve (gamma 0.5-2) and a moved black/white point "
               "(black up to 30 %, white 65-100 %), downsampling to 30-100 % and back, burned-in "
               "marks")


def _unsharp(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    radius = float(rng.uniform(0.7, 6.0))
    blurred = np.asarray(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
                         .filter(ImageFilter.GaussianBlur(radius)), np.float32)
    return img + float(rng.uniform(-0.5, 1.5)) * (img - blurred)


def _border(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape
    out = img.copy()
    value = rng.uniform(215, 255) if rng.random() < 0.5 else rng.uniform(0, 40)
    sides = [s for s in range(4) if rng.random() < 0.4] or [int(rng.integers(4))]
    for side in sides:
        k = max(int(rng.uniform(0.02, 0.20) * (w if side < 2 else h)), 1)
        if side == 0:
            out[:, :k] = value
        elif side == 1:
            out[:, w - k:] = value
        elif side == 2:
            out[:k] = value
        else:
            out[h - k:] = value
    return out


def _rotate(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape
    angle = float(rng.uniform(-10, 10))
    rot = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).rotate(
        angle, resample=Image.Resampling.BILINEAR)
    s = abs(math.sin(math.radians(angle)))
    d = int(math.ceil(s * max(h, w) / 2)) + 1
    return np.asarray(rot.crop((d, d, w - d, h - d)).resize((w, h), Image.Resampling.BILINEAR),
                      np.float32)


def _resample(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape
    f = float(rng.uniform(0.3, 1.0))
    small = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).resize(
        (max(int(w * f), 8), max(int(h * f), 8)), Image.Resampling.BOX)
    return np.asarray(small.resize((w, h), Image.Resampling.BILINEAR), np.float32)


def _curve(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = np.clip(img, 0, 255) / 255.0
    x = np.power(x, float(np.exp(rng.uniform(math.log(0.5), math.log(2.0)))))
    black, white = rng.uniform(0.0, 0.30), rng.uniform(0.65, 1.0)
    return 255.0 * (black + (white - black) * x)


def _noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return img + rng.normal(0.0, rng.uniform(0.5, 8.0), img.shape).astype(np.float32)


def _marks(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(1, 4))):
        size = max(int(rng.uniform(0.03, 0.08) * h), 3)
        x, y = int(rng.uniform(0, w - size)), int(rng.uniform(0, h - size))
        fill = int(rng.uniform(200, 255))
        if rng.random() < 0.5:
            draw.rectangle([x, y, x + size, y + size], fill=fill)
        else:
            draw.text((x, y), "RLAP"[int(rng.integers(4))], fill=fill)
    return np.asarray(im, np.float32)


#: In acquisition order: positioning, collimation, detector, processing, display, marks.
STEPS = {"rotation": _rotate, "collimation": _border, "noise": _noise, "resolution": _resample,
         "sharpening": _unsharp, "display_curve": _curve, "marks": _marks}


def acquisition_variant(gray: np.ndarray, rng: np.random.Generator,
                        without: Collection[str] = ()) -> np.ndarray:
    """One variant of a 2-D uint8 model input: each step of :data:`STEPS` (except those named
    in ``without``, for held-out validation) applied with probability 0.5."""
    out = np.asarray(gray, np.float32)
    for name, step in STEPS.items():
        if name not in without and rng.random() < 0.5:
            out = step(out, rng)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def acquisition_variants(grays: Sequence[np.ndarray], per_film: int = DEFAULT_VARIANTS,
                         seed: int = 0, without: Collection[str] = ()) -> list[np.ndarray]:
    """``per_film`` variants of every film (not the films themselves), seeded."""
    unknown = set(without) - set(STEPS)
    if unknown:
        raise ValueError(f"unknown steps {sorted(unknown)}; choose from {list(STEPS)}")
    rng = np.random.default_rng(seed)
    return [acquisition_variant(g, rng, without) for g in grays for _ in range(per_film)]
