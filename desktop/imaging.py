"""Display maths for the viewer, Qt-free numpy: window/level, inversion, the heatmap's
upsampling and colour map (no matplotlib in the app)."""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Window/level presets on the 8-bit display values, keys 1-5: (name, centre, width).
PRESETS: list[tuple[str, float, float]] = [
    ("Full range", 127.5, 255.0),
    ("Lung", 90.0, 160.0),
    ("Soft tissue", 150.0, 140.0),
    ("Bone", 200.0, 110.0),
    ("High contrast", 127.5, 100.0),
]
DEFAULT_WINDOW = PRESETS[0][1:]

# Anchors of a perceptually ordered dark-blue -> cyan -> yellow -> red map (turbo-like).
_ANCHORS = np.array([
    [0.00, 48, 18, 59],
    [0.15, 70, 107, 227],
    [0.35, 27, 208, 213],
    [0.55, 97, 252, 108],
    [0.70, 210, 233, 53],
    [0.85, 254, 155, 45],
    [1.00, 122, 4, 3],
], dtype=np.float64)


def colormap_lut() -> np.ndarray:
    """(256, 3) uint8 colour table interpolated from the anchors."""
    x = np.linspace(0.0, 1.0, 256)
    return np.stack(
        [np.interp(x, _ANCHORS[:, 0], _ANCHORS[:, c]) for c in (1, 2, 3)], axis=1
    ).round().astype(np.uint8)


_LUT = colormap_lut()


def window_lut(centre: float, width: float, invert: bool = False) -> np.ndarray:
    """(256,) uint8 lookup table for a linear window (DICOM-style centre/width)."""
    width = max(1.0, float(width))
    v = np.arange(256, dtype=np.float64)
    out = np.clip((v - (centre - width / 2.0)) / width, 0.0, 1.0) * 255.0
    if invert:
        out = 255.0 - out
    return out.round().astype(np.uint8)


def apply_window(gray: np.ndarray, centre: float, width: float, invert: bool = False) -> np.ndarray:
    """Apply window/level (and inversion) to an 8-bit image."""
    return window_lut(centre, width, invert)[gray]


def normalise_cam(cam: np.ndarray) -> np.ndarray:
    """Scale a class-activation map to 0..1 by its own range (relative, per image)."""
    c = np.asarray(cam, dtype=np.float32)
    lo, hi = float(np.min(c)), float(np.max(c))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo < 1e-12:
        return np.zeros(c.shape, dtype=np.float32)
    return (c - lo) / (hi - lo)


def upsample(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a (h, w) map to the image's (H, W) (the model saw the whole
    image stretched to a square, so the map covers the whole image)."""
    h, w = shape
    im = Image.fromarray(np.asarray(cam, dtype=np.float32), mode="F")
    return np.asarray(im.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


def heatmap_rgba(cam: np.ndarray, shape: tuple[int, int], opacity: float) -> np.ndarray:
    """(H, W, 4) uint8 RGBA overlay: colour from the normalised map, alpha growing with it
    (weak regions stay transparent so the film remains readable)."""
    v = np.clip(upsample(normalise_cam(cam), shape), 0.0, 1.0)
    idx = np.rint(v * 255).astype(np.uint8)
    rgba = np.empty((*shape, 4), dtype=np.uint8)
    rgba[..., :3] = _LUT[idx]
    alpha = np.clip(v * 1.6 - 0.15, 0.0, 1.0) * float(np.clip(opacity, 0.0, 1.0)) * 255.0
    rgba[..., 3] = np.rint(alpha).astype(np.uint8)
    return rgba
