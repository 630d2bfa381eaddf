"""The one image loader shared by training, conversion and the desktop app.

Every consumer turns a file into model input through :func:`load_image` (or
:func:`decode_bytes` + :func:`to_model_input` when the bytes are already in memory), so
training can never prepare an image differently from the app.

Pipeline: read the file (bounded size) -> decode (Pillow, or pydicom for DICOM) -> 8-bit
grayscale (EXIF orientation applied, 16-bit and float scaled by their own range, MONOCHROME1
inverted) -> :func:`to_model_input`, which makes the input the way the training images were
made (docs/image-path.md): Pillow's bicubic resize to ``S x S`` (aspect ratio not kept) and a
JPEG round trip at Pillow's default quality 75. An image that is already ``S x S`` is used as
it is (the training and public test images are such files: exact). A full-size film is first
reduced by a power of two (:func:`reduction_factor`, at least :data:`REDUCING_GAP` x ``S``
pixels kept on its short side): a JPEG by the decoder's DCT scaling when the caller asks for
model input (``draft_size``), any other format (and the rest of the factor) by a box average.
Lossless formats holding the same pixels give the same model input bit for bit.

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
import importlib
import io
import logging
import os
import stat as _stat
import struct

import numpy as np
from PIL import (
    Image,
    JpegImagePlugin,  # noqa: F401 - the JPEG writer of to_model_input's round trip
    UnidentifiedImageError,
)

from pneumonia_core import dicom
from pneumonia_core.decoded_image import (
    COLOUR_CUTOFF,
    MAX_PIXELS,
    DecodedImage,
    ImageLoadError,
    check_geometry,
    colorfulness,
    scale_to_uint8,
)
from pneumonia_core.sniff import supported_format, unsupported_message

log = logging.getLogger(__name__)

#: Largest file the loader reads, in bytes. Chest films, even uncompressed DICOM, are far below.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: File suffixes offered by file dialogs and folder scans. Extension-less files are probed
#: for a DICOM preamble.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".dcm", ".dicom")

#: The Pillow formats the loader accepts (identified by content, not by file name). Anything
#: else Pillow could open (GIF, WebP, PSD, EPS, ICO, ...) is refused as unsupported: X-rays do
#: not come in those formats, and fewer parsers means a smaller attack surface.
PIL_FORMATS = ("JPEG", "PNG", "BMP", "TIFF")
#: Pillow's plugin module of each of :data:`PIL_FORMATS`.
_PIL_PLUGINS = {"JPEG": "JpegImagePlugin", "PNG": "PngImagePlugin", "BMP": "BmpImagePlugin",
                "TIFF": "TiffImagePlugin"}

#: Largest side of an image decoded for display (the viewer's preview).
PREVIEW_MAX_SIDE = 2048

#: Pillow's default JPEG quality, which made the training images (docs/image-path.md).
TRAINING_JPEG_QUALITY = 75
#: A full-size film is reduced by a power of two before the bicubic resize to the model's
#: ``S x S`` (:func:`reduction_factor`) while its short side keeps at least this many times
#: ``S`` pixels (Pillow's ``reducing_gap``). The bicubic step then still shrinks by at least
#: this much, so the result stays close to a bicubic resize of the whole film
#: (docs/image-path.md gives the measured |dP|); films whose short side is under
#: 2 x REDUCING_GAP x S - 1 pixels are not reduced at all.
REDUCING_GAP = 1.0
RESIZE_METHOD = ("as the training images were made: grey as RGB, PIL bicubic resize to S x S "
                 "(aspect ratio not kept), JPEG quality 75 round trip; S x S images used as "
                 f"they are; larger films first reduced by a power of two keeping at least "
                 f"{REDUCING_GAP:g} x S pixels (JPEG: DCT scaling in the decoder; others: box)")

#: PNG ancillary chunks (text, ICC profile, EXIF, ...) longer than this are dropped before
#: Pillow parses the file: Pillow keeps a tEXt chunk whole, twice (bytes and str), so one
#: 200 MB text chunk cost over 1 GB. The loader uses none of them (EXIF orientation aside,
#: and a real eXIf chunk is a few kB). Pillow's own per-chunk text limit is the same 1 MiB.
MAX_PNG_ANCILLARY_CHUNK = 1 << 20

# Pillow only warns on very large images; our own MAX_PIXELS check runs first, and this
# turns any remaining case into an error instead of a warning.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


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


def reduction_factor(width: int, height: int, size: int) -> int:
    """The power of two by which a ``width x height`` film is reduced before the bicubic
    resize to ``size x size``: the largest ``f`` with ``ceil(min(width, height) / f) >=
    REDUCING_GAP * size`` (1 for films smaller than that). Reducing by ``f`` in steps gives
    the same size as reducing at once (``ceil(ceil(n / a) / b) == ceil(n / (a * b))``), so a
    JPEG reduced in its decoder and then by :func:`to_model_input` ends where a PNG of the
    same film does, and a reduced film is not reduced again."""
    short = min(width, height)
    f = 1
    while -(-short // (2 * f)) >= REDUCING_GAP * size:
        f *= 2
    return f


def _draft_jpeg(im: Image.Image, size: int) -> None:
    """Ask the JPEG decoder for the film reduced by :func:`reduction_factor` (at most 1/8,
    libjpeg's DCT scaling); :func:`to_model_input` box-reduces whatever is left."""
    width, height = im.size
    factor = min(reduction_factor(width, height, size), 8)
    if factor > 1:
        # Pillow picks the largest scale s in (8, 4, 2, 1) with s <= min(width // request
        # width, height // request height); each side // factor is at least REDUCING_GAP x
        # size - 1 (far above 8), so this request gives exactly ``factor``.
        im.draft(None, (width // factor, height // factor))


def _pil_formats(data: bytes) -> tuple[str, ...]:
    """The formats Pillow is offered for ``data``, their plugins imported: the one its
    signature names (:func:`pneumonia_core.sniff.supported_format`), else all of
    :data:`PIL_FORMATS`.

    Pillow's ``Image.open`` of bytes first imports five plugins (its ``preinit``: BMP, GIF,
    JPEG, PPM, PNG), about 3 ms of a one-file ``classify`` of a JPEG, 5 ms without EXIF
    (issue 22); opening a file by name it imports only the plugin of its suffix instead. The
    loader, which decodes bytes read once, does the same from the signature, and marks that
    step done (Pillow's ``_initialized``): any format Pillow lacks later, in this module or
    elsewhere, it still loads itself (``Image.init``, as when a format is not among the five)."""
    name = supported_format(data)
    formats = (name,) if name is not None else PIL_FORMATS
    for fmt in formats:
        importlib.import_module(f"PIL.{_PIL_PLUGINS[fmt]}")
    Image._initialized = max(Image._initialized, 1)
    return formats


def _decode_pil(data: bytes, draft_size: int | None = None) -> DecodedImage:
    # No warnings.catch_warnings() here: it swaps the process-wide filter list and is not
    # thread-safe (the app decodes on two threads). Sizes between MAX_PIXELS and twice that
    # make Pillow warn; check_geometry refuses them right after the header is read.
    try:
        im = Image.open(io.BytesIO(_png_without_large_chunks(data)), formats=_pil_formats(data))
        fmt = im.format or "unknown"
        width, height = im.size
        check_geometry(width, height)  # from the header, before any pixel is decoded
        orientation = _orientation(im)
        frames = max(1, int(getattr(im, "n_frames", 1) or 1))
        im.seek(0)
        if draft_size and fmt == "JPEG":
            _draft_jpeg(im, draft_size)
        im.load()
        if orientation != 1:
            from PIL import ImageOps  # only for a rotated film (about 1 ms of a start)

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
    return DecodedImage(gray, fmt, (width, height), was_color, colorful, frames=frames)


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1..8); 1 when absent, unreadable or out of range."""
    try:
        value = int(im.getexif().get(0x0112, 1))
    except Exception:  # a corrupt EXIF block must not cost the image
        return 1
    return value if 1 <= value <= 8 else 1


def decode_bytes(data: bytes, draft_size: int | None = None) -> DecodedImage:
    """Decode image bytes (JPEG/PNG/BMP/TIFF via Pillow, DICOM via pydicom) to 8-bit grey.
    Raises only :class:`ImageLoadError`, whatever the bytes.

    Without ``draft_size`` every file is decoded in full (what the viewer shows). With
    ``draft_size`` (the model's input side: the caller wants model input, see
    :func:`to_model_input`), a JPEG is decoded already reduced by its share of
    :func:`reduction_factor` (libjpeg's DCT scaling, 1/2..1/8): ``pixels`` is then that
    smaller image, while ``original_size`` stays the size stored in the file.
    """
    if not data:
        raise ImageLoadError("Empty file (0 bytes)")
    try:
        return _decode_any(bytes(data), draft_size)
    except ImageLoadError:
        raise
    except MemoryError:
        raise ImageLoadError("Image too large to decode in memory") from None
    except RecursionError:
        raise ImageLoadError("Corrupt file: structure nested too deeply") from None
    except Exception as exc:  # last line of defence: a decoder bug costs this file only
        log.warning("unexpected %s while decoding", type(exc).__name__, exc_info=True)
        raise ImageLoadError(f"Cannot decode file ({type(exc).__name__}: {exc})") from None


def _decode_any(data: bytes, draft_size: int | None) -> DecodedImage:
    if is_dicom_bytes(data):
        return dicom.decode_dicom(data)
    try:
        return _decode_pil(data, draft_size)
    except ImageLoadError:
        # Some DICOM files lack the 128-byte preamble; give pydicom a chance.
        if dicom.looks_like_headerless_dicom(data):
            return dicom.decode_dicom(data)
        raise


def to_model_input(gray: np.ndarray, size: int) -> np.ndarray:
    """An 8-bit grey image as the model's ``size x size`` input, prepared as the training
    images were (docs/image-path.md): ``Image.convert("RGB").resize((size, size))`` (Pillow's
    default bicubic filter, aspect ratio not kept), saved as JPEG at quality 75 (Pillow's
    default) and decoded back to grey. An image already ``size x size`` is returned as it is:
    the training and public test files are such images, made that way once. A larger film is
    first box-reduced by :func:`reduction_factor` (nothing more for a JPEG that its decoder
    already reduced, see :func:`decode_bytes`)."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 array, received shape={gray.shape} dtype={gray.dtype}")
    if gray.shape == (size, size):
        return np.ascontiguousarray(gray)
    im = Image.fromarray(gray, mode="L")
    factor = reduction_factor(im.width, im.height, size)
    if factor > 1:
        im = im.reduce(factor)
    # Resizing the grey image gives the same pixels as resizing it as RGB (the filter runs
    # per channel) at a third of the cost; and a grey JPEG gives the same pixels as the
    # training images' grey-as-RGB JPEG (libjpeg's luma of R = G = B is that value, exactly,
    # and the chroma of grey is a constant 128 that decodes back exactly), at half the cost
    # (tests/core/test_model_input.py checks both against the RGB way).
    small = im.resize((size, size), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=TRAINING_JPEG_QUALITY)
    # Decoded by the JPEG decoder Image.open would use, with its arguments (a grey JPEG: raw
    # mode L, no DCT scaling), without parsing the file we just wrote (tested equal).
    return np.asarray(Image.frombytes("L", (size, size), buf.getvalue(), "jpeg", "L", ""))


def load_image(path: str | os.PathLike[str], size: int = 224) -> np.ndarray:
    """THE loader: a file path to a ``(size, size)`` uint8 grayscale array.

    Raises :class:`ImageLoadError` with a message for the user when the file cannot be used.
    """
    decoded = decode_bytes(read_file_bytes(path), draft_size=size)
    return to_model_input(decoded.pixels, size)


def load_decoded(path: str | os.PathLike[str], size: int = 224) -> tuple[np.ndarray, DecodedImage]:
    """Like :func:`load_image`, and also return the decoded image and its facts (a JPEG's
    ``pixels`` reduced as :func:`decode_bytes` with ``draft_size`` says)."""
    decoded = decode_bytes(read_file_bytes(path), draft_size=size)
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
