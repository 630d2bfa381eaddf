"""The one image loader shared by training, conversion and the desktop app.

Every consumer turns a file into model input through :func:`load_image` (or
:func:`decode_bytes` + :func:`to_model_input` when the bytes are already in memory), so
training can never prepare an image differently from the app.

Pipeline: read the file (bounded size) -> decode IN FULL (Pillow, or pydicom for DICOM) ->
8-bit grayscale (EXIF orientation applied, 16-bit and float scaled by their own range,
MONOCHROME1 inverted, VOI LUT applied) -> :func:`to_model_input`, which repeats exactly how
the training images were made (docs/image-path.md): three identical channels, Pillow's
default bicubic ``resize((S, S))`` (aspect ratio not kept) and a JPEG round trip at Pillow's
default quality 75; an image that is already ``S x S`` is used as it is (the training and
public test images are such files). Whatever the format (JPEG, PNG, BMP, TIFF, DICOM), the
same pixels give the same model input.

Robustness contract (tested by ``tests/reliability``): every public function here raises only
:class:`ImageLoadError` for bad input, whatever the bytes; no input can make it hang or allocate
without bound. Files are opened non-blocking and must be regular files (a FIFO or device never
blocks the reader), at most :data:`MAX_FILE_BYTES` are read, and the declared pixel count is
checked against :data:`MAX_PIXELS` from the header before any pixel is decoded. Only the
formats in :data:`PIL_FORMATS` are handed to Pillow, PNG ancillary chunks over
:data:`MAX_PNG_ANCILLARY_CHUNK` (text, metadata: never used) are dropped before Pillow reads
them; DICOM goes to pydicom (with the deflate bomb of the Deflated Explicit VR transfer syntax
defused, see :mod:`pneumonia_core.dicom`).
"""

from __future__ import annotations

import errno
import io
import logging
import os
import stat as _stat
import struct
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pneumonia_core.sniff import unsupported_message

log = logging.getLogger(__name__)

#: Largest file the loader reads, in bytes. Chest films, even uncompressed DICOM, are far below.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: Largest decoded image, in pixels (8000 x 8000). Larger declared sizes are refused before
#: any pixel is decoded, which defuses decompression bombs. Digital chest detectors are at most
#: about 4300 x 4300 (18.5 MP); a 16-bit image at this limit peaks near 0.5 GB while decoding.
MAX_PIXELS = 64_000_000
#: Smallest side accepted; anything thinner cannot be a radiograph.
MIN_SIDE = 16
#: Largest aspect ratio accepted (long side / short side).
MAX_ASPECT = 10.0

#: File suffixes offered by file dialogs and folder scans. Extension-less files are probed
#: for a DICOM preamble.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".dcm", ".dicom")

#: The Pillow formats the loader accepts (identified by content, not by file name). Anything
#: else Pillow could open (GIF, WebP, PSD, EPS, ICO, ...) is refused as unsupported: X-rays do
#: not come in those formats, and fewer parsers means a smaller attack surface.
PIL_FORMATS = ("JPEG", "PNG", "BMP", "TIFF")

#: Largest side of an image decoded for display (the viewer's preview).
PREVIEW_MAX_SIDE = 2048
#: Colourfulness (:func:`colorfulness`) above which an image holds real colour content, not
#: grey stored as RGB (JPEG chroma noise stays well below).
COLOUR_CUTOFF = 2.0

#: Pillow's default JPEG quality, which made the training images (docs/image-path.md).
TRAINING_JPEG_QUALITY = 75
RESIZE_METHOD = ("full decode; as the training images were made: grey as RGB, PIL bicubic "
                 "resize to S x S (aspect ratio not kept), JPEG quality 75 round trip; "
                 "S x S images used as they are")

#: PNG ancillary chunks (text, ICC profile, EXIF, ...) longer than this are dropped before
#: Pillow parses the file: Pillow keeps a tEXt chunk whole, twice (bytes and str), so one
#: 200 MB text chunk cost over 1 GB. The loader uses none of them (EXIF orientation aside,
#: and a real eXIf chunk is a few kB). Pillow's own per-chunk text limit is the same 1 MiB.
MAX_PNG_ANCILLARY_CHUNK = 1 << 20

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
    #: The stored values (DICOM, after the modality LUT) that pixel values 0 and 255 stand
    #: for, when the mapping is linear; lets a viewer report window/level in those units.
    display_range: tuple[float, float] | None = None
    #: What a viewer shows when it differs from ``pixels`` (a DICOM's stored VOI window or
    #: LUT applied); ``pixels`` is then the stored values scaled by their own range, so the
    #: model's input never depends on the presentation window (issue 21). ``display_range``
    #: describes this image when set.
    display: np.ndarray | None = None

    @property
    def for_display(self) -> np.ndarray:
        """The image a viewer shows: ``display`` when set, else ``pixels``."""
        return self.pixels if self.display is None else self.display


def is_dicom_bytes(data: bytes) -> bool:
    """True when ``data`` starts with the DICOM Part 10 preamble ('DICM' at offset 128)."""
    return len(data) >= 132 and data[128:132] == b"DICM"


def _describe_mode(mode: int) -> str:
    if _stat.S_ISDIR(mode):
        return "Is a folder, not an image file"
    if _stat.S_ISFIFO(mode):
        return "Not a regular file: a named pipe (FIFO)"
    if _stat.S_ISCHR(mode) or _stat.S_ISBLK(mode):
        return "Not a regular file: a device"
    if _stat.S_ISSOCK(mode):
        return "Not a regular file: a socket"
    return "Not a regular file (directory, device, pipe or socket)"


def _folder_message(path: str) -> str:
    """What to tell the user about a folder where a file was expected: a folder scan yields a
    sub-folder it could not list as its own row, so say when that is the problem."""
    try:
        with os.scandir(path):
            pass
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "Folder cannot be read (permission denied): its images were not classified"
        return f"Folder cannot be read ({exc.strerror or exc}): its images were not classified"
    return "Is a folder, not an image file"


def _os_error_message(exc: OSError, verb: str) -> str:
    if exc.errno == errno.ENOENT:
        return "File not found (missing, moved, or a broken link)"
    if exc.errno == errno.ELOOP:
        return f"Cannot {verb} file: symbolic link loop"
    if exc.errno == errno.ENAMETOOLONG:
        return f"Cannot {verb} file: path too long"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"Cannot {verb} file: permission denied"
    return f"Cannot {verb} file: {exc.strerror or exc}"


def read_file_bytes(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Read a regular file with a size bound; every failure becomes an :class:`ImageLoadError`.

    The file is opened with ``O_NONBLOCK`` and checked with ``fstat`` on the open descriptor,
    so a FIFO or device never blocks (even when a regular file is swapped for one between a
    folder listing and the read), and at most ``max_bytes + 1`` bytes are ever read.
    """
    try:
        p = os.fspath(path)
        st = os.stat(p)
    except FileNotFoundError:
        raise ImageLoadError(f"File not found: {path}") from None
    except OSError as exc:
        raise ImageLoadError(_os_error_message(exc, "access")) from None
    except (ValueError, TypeError) as exc:  # embedded NUL, wrong type
        raise ImageLoadError(f"Invalid file name: {exc}") from None
    # Refuse special files before opening them: opening some devices has side effects.
    if _stat.S_ISDIR(st.st_mode):
        raise ImageLoadError(_folder_message(p))
    if not _stat.S_ISREG(st.st_mode):
        raise ImageLoadError(_describe_mode(st.st_mode))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise ImageLoadError("File vanished before it could be read") from None
    except OSError as exc:
        raise ImageLoadError(_os_error_message(exc, "read")) from None
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):  # swapped between stat and open
            raise ImageLoadError(_describe_mode(st.st_mode))
        if st.st_size == 0:
            raise ImageLoadError("Empty file (0 bytes)")
        if st.st_size > max_bytes:
            raise ImageLoadError(
                f"File too large: {st.st_size / 1e6:.0f} MB (limit {max_bytes / 1e6:.0f} MB)"
            )
        chunks: list[bytes] = []
        total = 0
        # The first read asks for the whole file (plus one byte to see a file that grew): one
        # buffer and, with a single chunk, no joined copy, so a file costs its size once.
        want = min(st.st_size + 1, max_bytes + 1)
        while total <= max_bytes:
            chunk = os.read(fd, min(want, max_bytes + 1 - total))
            want = 1 << 24
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise ImageLoadError(_os_error_message(exc, "read")) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    del chunks
    if not data:
        raise ImageLoadError("Empty file (0 bytes)")
    if len(data) > max_bytes:
        raise ImageLoadError(f"File too large (limit {max_bytes / 1e6:.0f} MB)")
    return data


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
    colorful = colorfulness(arr[::step, ::step])
    return np.asarray(rgb.convert("L"), dtype=np.uint8), colorful > COLOUR_CUTOFF, colorful


def _unsupported(data: bytes) -> ImageLoadError:
    return ImageLoadError(unsupported_message(data))


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_without_large_chunks(data: bytes) -> bytes:
    """``data`` with every PNG ancillary chunk over :data:`MAX_PNG_ANCILLARY_CHUNK` removed
    (the same object when there is none, or when the chunk layout is damaged: Pillow then
    reports the damage). Walks chunk headers only; nothing is copied unless a chunk goes."""
    if not data.startswith(_PNG_SIGNATURE):
        return data
    view = memoryview(data)
    keep: list[memoryview] = [view[:8]]
    pos, dropped, end = 8, 0, len(data)
    while pos + 12 <= end:
        length, kind = struct.unpack_from(">I4s", data, pos)
        stop = pos + 12 + length
        if stop > end:
            break
        ancillary = bool(kind[0] & 0x20)  # lower-case first letter (PNG spec 5.4)
        if ancillary and length > MAX_PNG_ANCILLARY_CHUNK:
            dropped += 1
            log.info("PNG: dropping a %.1f MB %s chunk (not needed to decode the image)",
                     length / 1e6, kind.decode("latin-1"))
        else:
            keep.append(view[pos:stop])
        pos = stop
        if kind == b"IEND":
            break
    if not dropped:
        return data
    return b"".join(keep)


def _decode_pil(data: bytes) -> DecodedImage:
    # No warnings.catch_warnings() here: it swaps the process-wide filter list and is not
    # thread-safe (the app decodes on two threads). Sizes between MAX_PIXELS and twice that
    # make Pillow warn; check_geometry refuses them right after the header is read.
    # Always a full decode: a JPEG draft (DCT 1/2..1/8 scaling) gives other pixels than the
    # same film stored losslessly, and the training images were made from full decodes.
    try:
        im = Image.open(io.BytesIO(_png_without_large_chunks(data)), formats=PIL_FORMATS)
        fmt = im.format or "unknown"
        width, height = im.size
        check_geometry(width, height)  # from the header, before any pixel is decoded
        orientation = _orientation(im)
        im.load()
        if orientation != 1:
            im = ImageOps.exif_transpose(im)
        gray, was_color, colorful = _pil_to_gray8(im)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise _unsupported(data) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(
            f"Image too large: it declares over {MAX_PIXELS / 1e6:.0f} megapixels "
            "(possible decompression bomb)"
        ) from None
    except MemoryError:
        raise ImageLoadError("Image too large to decode in memory") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
        raise ImageLoadError(f"Corrupt or truncated image: {exc}") from None
    except Exception as exc:  # any other decoder failure is still this file's problem
        log.debug("unexpected %s decoding image", type(exc).__name__, exc_info=True)
        raise ImageLoadError(f"Corrupt image ({type(exc).__name__}: {exc})") from None
    if gray.ndim != 2 or gray.shape[0] < 1 or gray.shape[1] < 1:
        raise ImageLoadError(f"Unsupported pixel layout: shape {gray.shape}")
    return DecodedImage(gray, fmt, (width, height), was_color, colorful)


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1..8); 1 when absent, unreadable or out of range."""
    try:
        value = int(im.getexif().get(0x0112, 1))
    except Exception:  # a corrupt EXIF block must not cost the image
        return 1
    return value if 1 <= value <= 8 else 1


def decode_bytes(data: bytes, draft_size: int | None = None) -> DecodedImage:
    """Decode image bytes (JPEG/PNG/BMP/TIFF via Pillow, DICOM via pydicom) in full to 8-bit
    grey. Raises only :class:`ImageLoadError`, whatever the bytes.

    ``draft_size`` is accepted for existing callers and ignored: every file is decoded in
    full, so that the same pixels give the same model input in every format.
    """
    del draft_size
    if not data:
        raise ImageLoadError("Empty file (0 bytes)")
    try:
        return _decode_any(bytes(data))
    except ImageLoadError:
        raise
    except MemoryError:
        raise ImageLoadError("Image too large to decode in memory") from None
    except RecursionError:
        raise ImageLoadError("Corrupt file: structure nested too deeply") from None
    except Exception as exc:  # last line of defence: a decoder bug costs this file only
        log.warning("unexpected %s while decoding", type(exc).__name__, exc_info=True)
        raise ImageLoadError(f"Cannot decode file ({type(exc).__name__}: {exc})") from None


def _decode_any(data: bytes) -> DecodedImage:
    from pneumonia_core import dicom

    if is_dicom_bytes(data):
        return dicom.decode_dicom(data)
    try:
        return _decode_pil(data)
    except ImageLoadError:
        # Some DICOM files lack the 128-byte preamble; give pydicom a chance.
        if dicom.looks_like_headerless_dicom(data):
            return dicom.decode_dicom(data)
        raise


def to_model_input(gray: np.ndarray, size: int) -> np.ndarray:
    """An 8-bit grey image as the model's ``size x size`` input, prepared exactly as the
    training images were (docs/image-path.md): ``Image.convert("RGB").resize((size, size))``
    (Pillow's default bicubic filter, aspect ratio not kept), saved as JPEG at quality 75
    (Pillow's default) and decoded back to grey. An image already ``size x size`` is returned
    as it is: the training and public test files are such images, made that way once."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 array, received shape={gray.shape} dtype={gray.dtype}")
    if gray.shape == (size, size):
        return np.ascontiguousarray(gray)
    # Resizing the grey image and then making it RGB gives the same pixels as resizing the
    # RGB image (the filter runs per channel) at a third of the cost.
    small = Image.fromarray(gray, mode="L").resize((size, size), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    small.convert("RGB").save(buf, format="JPEG", quality=TRAINING_JPEG_QUALITY)
    with Image.open(buf, formats=("JPEG",)) as back:
        return np.asarray(back.convert("L"), dtype=np.uint8)


def load_image(path: str | os.PathLike[str], size: int = 224) -> np.ndarray:
    """THE loader: a file path to a ``(size, size)`` uint8 grayscale array.

    Raises :class:`ImageLoadError` with a message for the user when the file cannot be used.
    """
    decoded = decode_bytes(read_file_bytes(path))
    return to_model_input(decoded.pixels, size)


def load_decoded(path: str | os.PathLike[str], size: int = 224) -> tuple[np.ndarray, DecodedImage]:
    """Like :func:`load_image`, and also return the decoded image and its facts."""
    decoded = decode_bytes(read_file_bytes(path))
    return to_model_input(decoded.pixels, size), decoded


def fit_for_display(gray: np.ndarray, max_side: int = PREVIEW_MAX_SIDE) -> np.ndarray:
    """``gray`` scaled down (bilinear) to at most ``max_side`` pixels on its long side."""
    h, w = gray.shape
    if max(h, w) <= max_side:
        return gray
    scale = max_side / max(h, w)
    im = Image.fromarray(gray, mode="L").resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR
    )
    return np.asarray(im, dtype=np.uint8)


def is_candidate_file(path: str | os.PathLike[str]) -> bool:
    """Would a folder scan pick this file up? Known suffixes, or no suffix (maybe DICOM).

    Takes a plain name too: folder scans call it once per entry, and building a ``Path`` for
    each would intern every file name (pathlib does), growing memory with the folder size."""
    name = os.path.basename(os.fspath(path))
    suffix = os.path.splitext(name)[1].lower()
    return suffix in IMAGE_SUFFIXES or suffix == ""
