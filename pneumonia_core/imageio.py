"""The one image loader shared by training, conversion and the desktop app.

Every consumer turns a file into model input through :func:`load_image` (or
:func:`decode_bytes` + :func:`to_model_input` when the bytes are already in memory), so
training can never resize differently from the app.

Pipeline: read the file (bounded size) -> decode (Pillow, or pydicom for DICOM) -> 8-bit
grayscale (EXIF orientation applied, 16-bit and float scaled by their own range, MONOCHROME1
inverted, VOI LUT applied) -> resized to ``size x size`` with Pillow's bilinear filter, aspect
ratio not kept (the way the Kermany training images were made).

JPEGs are decoded with ``Image.draft`` when the model size is requested, which lets libjpeg
reduce by 1/2, 1/4 or 1/8 inside the decoder; the draft never goes below the target size.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

#: Largest file the loader reads, in bytes. Chest films, even uncompressed DICOM, are far below.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: Largest decoded image, in pixels (about 12k x 12k). Larger declared sizes are refused before
#: any pixel is decoded, which defuses decompression bombs.
MAX_PIXELS = 150_000_000
#: Smallest side accepted; anything thinner cannot be a radiograph.
MIN_SIDE = 16
#: Largest aspect ratio accepted (long side / short side).
MAX_ASPECT = 10.0

#: File suffixes offered by file dialogs and folder scans. Extension-less files are probed
#: for a DICOM preamble.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".dcm", ".dicom")

RESIZE_METHOD = "PIL bilinear, aspect ratio not kept, JPEG draft reduction to >= target size"

# Pillow only warns on very large images; our own MAX_PIXELS check runs first, and this
# turns any remaining case into an error instead of a warning.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


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


def is_dicom_bytes(data: bytes) -> bool:
    """True when ``data`` starts with the DICOM Part 10 preamble ('DICM' at offset 128)."""
    return len(data) >= 132 and data[128:132] == b"DICM"


def read_file_bytes(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Read a regular file with a size bound; every failure becomes an :class:`ImageLoadError`."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise ImageLoadError(f"File not found: {p}") from None
    except OSError as exc:
        raise ImageLoadError(f"Cannot access file: {exc.strerror or exc}") from None
    import stat as _stat

    if not _stat.S_ISREG(st.st_mode):
        raise ImageLoadError("Not a regular file (directory, device, pipe or socket)")
    if st.st_size == 0:
        raise ImageLoadError("Empty file (0 bytes)")
    if st.st_size > max_bytes:
        raise ImageLoadError(
            f"File too large: {st.st_size / 1e6:.0f} MB (limit {max_bytes / 1e6:.0f} MB)"
        )
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise ImageLoadError("File vanished before it could be read") from None
    except OSError as exc:
        raise ImageLoadError(f"Cannot read file: {exc.strerror or exc}") from None
    if not data:
        raise ImageLoadError("Empty file (0 bytes)")
    if len(data) > max_bytes:
        raise ImageLoadError(f"File too large (limit {max_bytes / 1e6:.0f} MB)")
    return data


def _check_geometry(width: int, height: int) -> None:
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


def scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map any numeric 2-D array to uint8 by its own finite min..max range."""
    a = np.asarray(arr)
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64, copy=False)
    finite = np.isfinite(a)
    if not finite.any():
        raise ImageLoadError("Image holds no finite pixel values")
    lo = float(a[finite].min())
    hi = float(a[finite].max())
    a = np.where(finite, a, lo)
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    out = (a - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _colorfulness(rgb: np.ndarray) -> float:
    r = rgb[..., 0].astype(np.int16)
    g = rgb[..., 1].astype(np.int16)
    b = rgb[..., 2].astype(np.int16)
    return float(np.mean(np.abs(r - g)) + np.mean(np.abs(g - b)))


def _pil_to_gray8(im: Image.Image) -> tuple[np.ndarray, bool, float]:
    """Convert any Pillow mode to (uint8 gray array, was_color, colorfulness)."""
    mode = im.mode
    if mode == "L":
        return np.asarray(im, dtype=np.uint8), False, 0.0
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return scale_to_uint8(np.asarray(im)), False, 0.0
    if mode in ("1", "LA", "La"):
        return np.asarray(im.convert("L"), dtype=np.uint8), False, 0.0
    # Colour modes (RGB, RGBA, P, CMYK, YCbCr, LAB, HSV, ...): flatten alpha on black,
    # measure colour content, then convert with ITU-R 601 luma like every viewer does.
    if mode in ("RGBA", "PA", "P", "RGBa") or "transparency" in im.info:
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(background, im)
    rgb = im.convert("RGB")
    arr = np.asarray(rgb, dtype=np.uint8)
    # Subsample for the colour statistic: it only needs to tell grey from colour.
    step = max(1, int(np.sqrt(arr.shape[0] * arr.shape[1] / 65536)))
    colorful = _colorfulness(arr[::step, ::step])
    return np.asarray(rgb.convert("L"), dtype=np.uint8), colorful > 2.0, colorful


def _decode_pil(data: bytes, draft_size: int | None) -> DecodedImage:
    import io
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            fmt = im.format or "unknown"
            width, height = im.size
            _check_geometry(width, height)
            if getattr(im, "n_frames", 1) > 1:
                log.debug("multi-frame %s: using the first frame", fmt)
            if draft_size is not None and fmt == "JPEG":
                # libjpeg DCT scaling; keeps both sides >= draft_size.
                im.draft("L" if im.mode == "L" else im.mode, (draft_size, draft_size))
            orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
            im.load()
            if orientation != 1:
                im = ImageOps.exif_transpose(im)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError("Not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError("Image declares too many pixels (possible decompression bomb)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
        raise ImageLoadError(f"Corrupt or truncated image: {exc}") from None
    except MemoryError:
        raise ImageLoadError("Image too large to decode in memory") from None
    gray, was_color, colorful = _pil_to_gray8(im)
    return DecodedImage(gray, fmt, (width, height), was_color, colorful)


def decode_bytes(data: bytes, draft_size: int | None = None) -> DecodedImage:
    """Decode image bytes (JPEG/PNG/BMP/TIFF via Pillow, DICOM via pydicom) to 8-bit grey.

    ``draft_size`` lets JPEG decoding reduce early; pass the model's input size when only
    the model input is needed.
    """
    if not data:
        raise ImageLoadError("Empty file (0 bytes)")
    if is_dicom_bytes(data):
        from pneumonia_core import dicom

        return dicom.decode_dicom(data)
    try:
        return _decode_pil(data, draft_size)
    except ImageLoadError:
        # Some DICOM files lack the 128-byte preamble; give pydicom a chance.
        from pneumonia_core import dicom

        if dicom.looks_like_headerless_dicom(data):
            return dicom.decode_dicom(data)
        raise


def to_model_input(gray: np.ndarray, size: int) -> np.ndarray:
    """Resize an 8-bit grey image to ``size x size`` (aspect not kept), bilinear."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 array, received shape={gray.shape} dtype={gray.dtype}")
    if gray.shape == (size, size):
        return np.ascontiguousarray(gray)
    im = Image.fromarray(gray, mode="L").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def load_image(path: str | os.PathLike[str], size: int = 224) -> np.ndarray:
    """THE loader: a file path to a ``(size, size)`` uint8 grayscale array.

    Raises :class:`ImageLoadError` with a message for the user when the file cannot be used.
    """
    decoded = decode_bytes(read_file_bytes(path), draft_size=size)
    return to_model_input(decoded.pixels, size)


def load_decoded(path: str | os.PathLike[str], size: int = 224) -> tuple[np.ndarray, DecodedImage]:
    """Like :func:`load_image`, and also return the decoded image and its facts."""
    decoded = decode_bytes(read_file_bytes(path), draft_size=size)
    return to_model_input(decoded.pixels, size), decoded


def load_preview(path: str | os.PathLike[str], max_side: int = 2048) -> DecodedImage:
    """Decode a file for display, at most ``max_side`` pixels on its long side."""
    decoded = decode_bytes(read_file_bytes(path), draft_size=None)
    h, w = decoded.pixels.shape
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        im = Image.fromarray(decoded.pixels, mode="L").resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR
        )
        decoded.pixels = np.asarray(im, dtype=np.uint8)
    return decoded


def is_candidate_file(path: Path) -> bool:
    """Would a folder scan pick this file up? Known suffixes, or no suffix (maybe DICOM)."""
    suffix = path.suffix.lower()
    return suffix in IMAGE_SUFFIXES or suffix == ""
