"""What every decoder (Pillow in :mod:`pneumonia_core.imageio`, pydicom in
:mod:`pneumonia_core.dicom`) returns and shares: :class:`DecodedImage`, :class:`ImageLoadError`,
the size limits (:func:`check_geometry`), the 8-bit scaling (:func:`scale_to_uint8`) and
the colour measure (:func:`colorfulness`). It
imports neither decoder, so they build on it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Largest decoded image, in pixels (8000 x 8000). Larger declared sizes are refused before
#: any pixel is decoded, which defuses decompression bombs. Digital chest detectors are at most
#: about 4300 x 4300 (18.5 MP); a 16-bit image at this limit peaks near 0.5 GB while decoding.
MAX_PIXELS = 64_000_000
#: Smallest side accepted; anything thinner cannot be a radiograph.
MIN_SIDE = 16
#: Largest aspect ratio accepted (long side / short side).
MAX_ASPECT = 10.0

#: Colourfulness (:func:`colorfulness`) above which an image holds real colour content, not
#: grey stored as RGB (JPEG chroma noise stays well below).
COLOUR_CUTOFF = 2.0


class ImageLoadError(ValueError):
    """A file could not be turned into an image; the message is meant for the user."""


@dataclass
class DecodedImage:
    """An 8-bit grayscale image plus what we learned while decoding it."""

    pixels: np.ndarray  # (H, W) uint8
    source_format: str  # "JPEG", "PNG", "DICOM", ...
    original_size: tuple[int, int]  # (width, height) as stored in the file
    was_color: bool = False  # the file held real colour content (not grey stored as RGB)
    colorfulness: float = 0.0  # mean |R-G| + |G-B| of the colour image, 0 for grey
    dicom: dict[str, str] = field(default_factory=dict)  # Modality, BodyPartExamined, ...
    #: The stored values (DICOM, after the modality LUT) that pixel values 0 and 255 stand
    #: for, when the mapping is linear; lets a viewer report window/level in those units.
    display_range: tuple[float, float] | None = None
    #: What a viewer shows when it differs from ``pixels`` (a DICOM's stored VOI window or
    #: LUT applied); ``pixels`` is then the stored values scaled by their own range, so the
    #: model's input never depends on the presentation window (issue 21). ``display_range``
    #: describes this image when set.
    display: np.ndarray | None = None
    #: Frames (pages) in the file: multi-frame DICOM, APNG, multi-page TIFF. Only the first
    #: is decoded and judged; :func:`pneumonia_core.pipeline.frame_note` says so.
    frames: int = 1

    @property
    def for_display(self) -> np.ndarray:
        """The image a viewer shows: ``display`` when set, else ``pixels``."""
        return self.pixels if self.display is None else self.display


def check_geometry(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"Invalid image size {width}x{height}")
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            f"Image too large: {width}x{height} pixels (limit {MAX_PIXELS / 1e6:.0f} megapixels)"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageLoadError(f"Image too small: {width}x{height} (minimum side {MIN_SIDE} px)")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageLoadError(f"Image too thin: {width}x{height} (aspect ratio over {MAX_ASPECT:g})")


#: Pixels per chunk in :func:`scale_to_uint8` (bounds the float64 temporaries to ~25 MB).
_CHUNK_PIXELS = 1_000_000


def scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map any numeric 2-D array to uint8 by its own finite min..max range.

    Works in row chunks so that a large 16-bit or float image needs only a bounded float64
    temporary; the numbers are the same as the whole-array formula.
    """
    a = np.asarray(arr)
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if a.ndim == 0 or a.size == 0:
        raise ImageLoadError("Image holds no pixel values")
    rows = max(1, _CHUNK_PIXELS // max(1, a.size // max(1, a.shape[0])))
    exact = np.issubdtype(a.dtype, np.integer)
    lo = np.inf
    hi = -np.inf
    for i in range(0, a.shape[0], rows):
        block = a[i:i + rows]
        if not exact:
            block = block.astype(np.float64)
            block = block[np.isfinite(block)]
            if block.size == 0:
                continue
        lo = min(lo, float(block.min()))
        hi = max(hi, float(block.max()))
    if not np.isfinite(lo):
        raise ImageLoadError("Image holds no finite pixel values")
    out = np.empty(a.shape, dtype=np.uint8)
    if hi <= lo:
        out.fill(0)
        return out
    scale = 255.0 / (hi - lo)
    for i in range(0, a.shape[0], rows):
        block = a[i:i + rows].astype(np.float64)
        if not exact:
            block[~np.isfinite(block)] = lo
        block -= lo
        block *= scale
        np.rint(block, out=block)
        np.clip(block, 0, 255, out=block)
        out[i:i + rows] = block
    return out


def colorfulness(rgb: np.ndarray) -> float:
    """Mean |R-G| + |G-B| of an (H, W, 3) uint8 image: 0 for grey."""
    r = rgb[..., 0].astype(np.int16)
    g = rgb[..., 1].astype(np.int16)
    b = rgb[..., 2].astype(np.int16)
    return float(np.mean(np.abs(r - g)) + np.mean(np.abs(g - b)))
