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

#: The "inferno" colour map (perceptually uniform, readable in grey and by colour-blind
#: readers; van der Walt & Smith, matplotlib), sampled at 17 points, interpolated to 256.
_INFERNO = np.array([
    (0, 0, 4), (11, 7, 36), (33, 12, 74), (61, 9, 101), (87, 16, 110), (113, 25, 110),
    (138, 34, 106), (163, 44, 97), (188, 55, 84), (210, 70, 68), (228, 90, 49),
    (241, 115, 29), (249, 142, 9), (252, 172, 17), (249, 203, 53), (242, 234, 105),
    (252, 255, 164),
], dtype=np.float64)
COLORMAP_NAME = "inferno"
#: Relative CAM values below this are fully transparent (the film is seen unchanged).
HEATMAP_FLOOR = 0.4
#: The contour is drawn at this relative CAM value.
CONTOUR_LEVEL = 0.6


def colormap_lut() -> np.ndarray:
    """(256, 3) uint8 colour table (inferno: dark purple -> red -> pale yellow)."""
    x = np.linspace(0.0, 1.0, 256)
    xp = np.linspace(0.0, 1.0, len(_INFERNO))
    return np.stack([np.interp(x, xp, _INFERNO[:, c]) for c in range(3)],
                    axis=1).round().astype(np.uint8)


_LUT = colormap_lut()


def legend_colours(floor: float = HEATMAP_FLOOR) -> np.ndarray:
    """(256, 3) the colours the overlay uses from the floor to the maximum, for a legend."""
    idx = np.rint(np.linspace(floor, 1.0, 256) * 255).astype(np.uint8)
    return _LUT[idx]


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


def heatmap_rgba(cam: np.ndarray, shape: tuple[int, int], opacity: float,
                 floor: float = HEATMAP_FLOOR, contour: bool = False) -> np.ndarray:
    """(H, W, 4) uint8 RGBA overlay: inferno colour from the normalised map; fully
    transparent below ``floor`` (the film stays untouched there), alpha growing from the floor
    to the maximum. ``contour`` adds an opaque line at :data:`CONTOUR_LEVEL`."""
    v = np.clip(upsample(normalise_cam(cam), shape), 0.0, 1.0)
    idx = np.rint(v * 255).astype(np.uint8)
    rgba = np.empty((*shape, 4), dtype=np.uint8)
    rgba[..., :3] = _LUT[idx]
    ramp = np.clip((v - floor) / max(1e-6, 1.0 - floor), 0.0, 1.0)
    alpha = (0.35 + 0.65 * ramp) * (v > floor) * float(np.clip(opacity, 0.0, 1.0)) * 255.0
    rgba[..., 3] = np.rint(alpha).astype(np.uint8)
    if contour and v.max() > CONTOUR_LEVEL:
        inside = v >= CONTOUR_LEVEL
        edge = np.zeros_like(inside)
        dv = inside[1:, :] != inside[:-1, :]
        dh = inside[:, 1:] != inside[:, :-1]
        edge[1:, :] |= dv
        edge[:-1, :] |= dv
        edge[:, 1:] |= dh
        edge[:, :-1] |= dh
        edge &= inside
        rgba[edge] = (252, 255, 164, 255)
    return rgba
