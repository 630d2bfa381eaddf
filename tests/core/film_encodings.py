"""The same film in 14 odd but valid encodings (issue 12 item 5), built in memory.

Each builder takes the film's decoded 8-bit grey pixels ``(H, W)`` and returns the bytes of a
file holding those pixels. All are lossless except the two re-encoded as JPEG quality 95
(:data:`LOSSY`). Used by ``tests/core/test_image_path.py`` and ``scripts/measure_image_path.py``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bench.dicom_films import dx_dicom_bytes


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png(g: np.ndarray) -> bytes:
    return _save(Image.fromarray(g, mode="L"), "PNG", compress_level=1)


def png_palette(g: np.ndarray) -> bytes:
    """Mode P: indices into a 256-entry grey palette."""
    im = Image.frombytes("P", (g.shape[1], g.shape[0]), np.ascontiguousarray(g).tobytes())
    im.putpalette([v for level in range(256) for v in (level, level, level)])
    return _save(im, "PNG", compress_level=1)


def png_16bit(g: np.ndarray) -> bytes:
    """16-bit grey, values x 257 (the full 16-bit range)."""
    return _save(Image.fromarray(g.astype(np.uint16) * 257), "PNG", compress_level=1)


def png_rgba(g: np.ndarray) -> bytes:
    """Grey stored as RGBA with an opaque alpha channel."""
    rgba = np.dstack([g, g, g, np.full_like(g, 255)])
    return _save(Image.fromarray(rgba, mode="RGBA"), "PNG", compress_level=1)


def png_exif_rotated(g: np.ndarray) -> bytes:
    """Pixels stored turned 90 degrees, with EXIF orientation 6 to turn them back."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(g, k=1)), mode="L")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    return _save(stored, "PNG", exif=exif, compress_level=1)


def bmp(g: np.ndarray) -> bytes:
    return _save(Image.fromarray(g, mode="L"), "BMP")


def tiff_lzw(g: np.ndarray) -> bytes:
    return _save(Image.fromarray(g, mode="L"), "TIFF", compression="tiff_lzw")


def tiff_cmyk(g: np.ndarray) -> bytes:
    """Print-style CMYK TIFF: the grey in the K channel."""
    return _save(Image.fromarray(g, mode="L").convert("CMYK"), "TIFF")


def jpeg_q95(g: np.ndarray) -> bytes:
    return _save(Image.fromarray(g, mode="L"), "JPEG", quality=95)


def jpeg_q95_rgb_progressive(g: np.ndarray) -> bytes:
    return _save(Image.fromarray(g, mode="L").convert("RGB"), "JPEG", quality=95,
                 progressive=True)


def _dicom(pixels: np.ndarray, photometric: str, bits_stored: int,
           rle: bool = False) -> bytes:
    return dx_dicom_bytes(pixels, photometric, bits_stored, rle=rle, ViewPosition="AP")


def dicom_12bit(g: np.ndarray) -> bytes:
    """MONOCHROME2, 12 bits stored in 16 (values x 16), no window: scaled by its own range."""
    return _dicom(g.astype(np.uint16) * 16, "MONOCHROME2", 12)


def dicom_monochrome1(g: np.ndarray) -> bytes:
    """MONOCHROME1: stored inverted (bone dark), the viewer inverts it back."""
    return _dicom(255 - g, "MONOCHROME1", 8)


def dicom_rle(g: np.ndarray) -> bytes:
    """RLE Lossless compressed transfer syntax."""
    return _dicom(g, "MONOCHROME2", 8, rle=True)


def dicom_plain(g: np.ndarray) -> bytes:
    return _dicom(g, "MONOCHROME2", 8)


@dataclass(frozen=True)
class Encoding:
    name: str
    build: Callable[[np.ndarray], bytes]
    suffix: str  # file name suffix ("" for none)
    lossy: bool = False


#: The 14 encodings: name -> how to build it and what to call the file.
ENCODINGS: tuple[Encoding, ...] = (
    Encoding("png", png, ".png"),
    Encoding("png_palette", png_palette, ".png"),
    Encoding("png_16bit", png_16bit, ".png"),
    Encoding("png_rgba", png_rgba, ".png"),
    Encoding("png_exif_rotated", png_exif_rotated, ".png"),
    Encoding("bmp", bmp, ".bmp"),
    Encoding("tiff_lzw", tiff_lzw, ".tif"),
    Encoding("tiff_cmyk", tiff_cmyk, ".tiff"),
    Encoding("dicom_12bit", dicom_12bit, ".dcm"),
    Encoding("dicom_monochrome1", dicom_monochrome1, ".dcm"),
    Encoding("dicom_rle", dicom_rle, ".dcm"),
    Encoding("dicom_no_extension", dicom_plain, ""),
    Encoding("jpeg_q95", jpeg_q95, ".jpg", lossy=True),
    Encoding("jpeg_q95_rgb_progressive", jpeg_q95_rgb_progressive, ".jpeg", lossy=True),
)
#: Allowed |dP| against the plain film: lossless encodings, and the two JPEG q95 re-encodings.
MAX_DP_LOSSLESS = 0.02
MAX_DP_LOSSY = 0.05
#: Allowed |dP| between a full-size JPEG film (reduced by its decoder's DCT scaling) and the
#: same pixels stored losslessly (box-reduced): docs/image-path.md, issue 21 item 3.
MAX_DP_FORMATS = 0.03
LOSSY = tuple(e.name for e in ENCODINGS if e.lossy)
