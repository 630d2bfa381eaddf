"""A generated image that the out-of-scope guard accepts as a frontal chest film.

``tests.conftest.synthetic_xray`` (two dark ellipses in a uniformly bright, noisy frame) is
rejected by a guard fitted on real training X-rays: its pixel noise is 2-3x the edge density
of any real film and its layout is unlike theirs. ``chest_like_xray`` has the same signature
and the same pneumonia cue (a bright patch in one lung) but the real films' broad layout: air
at the sides, a bright mediastinum and spine, lung fields with ribs, a bright abdomen below,
and smooth noise. Tests that need an ``ok`` result from a model whose metadata carries fitted
image statistics should use this one; the benchmark uses it for its generated fallback films.
Owned by ``bench`` (tests import it from here; bench never imports tests).
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def chest_like_xray(seed: int, size: tuple[int, int] = (256, 224), pneumonia: bool = False) -> np.ndarray:
    """A (h, w) uint8 chest-film-like image; ``size`` is (width, height) like synthetic_xray."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    u, v = xx / w, yy / h
    body = np.clip(1.2 - np.abs(u - 0.5) / 0.42, 0, 1) ** 0.5  # soft tissue, air outside
    img = 25 + 120 * body
    img += 60 * np.exp(-((u - 0.5) / 0.09) ** 2) * (0.6 + 0.4 * v)  # mediastinum and spine
    img += 50 * np.clip((v - 0.78) / 0.1, 0, 1)  # diaphragm and abdomen
    for cx in (0.31, 0.69):
        lung = np.exp(-((((u - cx) / 0.14) ** 2 + ((v - 0.45) / 0.28) ** 2) ** 2))
        img -= 55 * lung
        ribs = 0.5 + 0.5 * np.sin(2 * np.pi * (v * 9 + 2 * np.abs(u - 0.5)))
        img += 14 * ribs * lung
    if pneumonia:
        cx = 0.31 if rng.random() < 0.5 else 0.69
        img += 60 * np.exp(-(((u - cx) / 0.07) ** 2 + ((v - 0.58) / 0.08) ** 2))
    coarse = rng.standard_normal((h // 4 + 1, w // 4 + 1)).astype(np.float32)
    smooth = np.asarray(Image.fromarray(coarse, mode="F").resize((w, h), Image.Resampling.BILINEAR))
    img += 6 * smooth + 3 * rng.standard_normal((h, w))
    return np.clip(img, 0, 255).astype(np.uint8)
