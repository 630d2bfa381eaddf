"""DICOM decoding to 8-bit grayscale for display and the model.

Applies, in order: rescale slope/intercept (Modality LUT), the VOI LUT or window
centre/width, and MONOCHROME1 inversion, so that bone is bright and air is dark exactly as
a radiologist's viewer shows the film (``DecodedImage.display``). The model's input
(``DecodedImage.pixels``) skips the VOI step: the stored values scaled by their own range, so
the stored window never changes the decision. Compressed transfer syntaxes are decoded by pydicom's
pixel handlers (pylibjpeg for JPEG, JPEG-LS and JPEG 2000; Pillow as fallback).

Bounds: Rows x Columns is checked against ``MAX_PIXELS`` before pixel data is decoded, only
the first frame of a multi-frame object is decoded, and the Deflated Explicit VR Little
Endian transfer syntax (which pydicom inflates without a limit) is inflated here first with
a cap of :data:`MAX_INFLATED_BYTES`, so a small deflate bomb is refused instead of filling
memory.
"""

from __future__ import annotations

import io
import logging
import sys
import zlib

import numpy as np

from pneumonia_core.decoded_image import (
    COLOUR_CUTOFF,
    MAX_PIXELS,
    DecodedImage,
    ImageLoadError,
    check_geometry,
    colorfulness,
    scale_to_uint8,
)

log = logging.getLogger(__name__)

#: Largest dataset accepted after inflating a Deflated Explicit VR Little Endian file.
MAX_INFLATED_BYTES = 256 * 1024 * 1024
_DEFLATED_TS = b"1.2.840.10008.1.2.1.99"

#: Tags copied into :attr:`DecodedImage.dicom` for the out-of-scope guard and the UI.
INFO_TAGS = (
    "Modality",
    "BodyPartExamined",
    "ViewPosition",
    "PhotometricInterpretation",
    "SOPClassUID",
    "StudyDescription",
    "SeriesDescription",
    "PatientAge",
    # shown to the reader (list columns and viewer overlay), never logged
    "PatientName",
    "PatientID",
    "StudyDate",
    # with PatientID and StudyDate, the identifiers a PACS matches results by: written to
    # the exports (desktop/identifiers.py), never logged nor audited
    "AccessionNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)


def looks_like_headerless_dicom(data: bytes) -> bool:
    """Heuristic for DICOM without the Part 10 preamble: starts with group 0x0008 tags."""
    return len(data) > 8 and data[0:2] in (b"\x08\x00", b"\x00\x08") and data[2:4] != b"\x00\x00"


def import_pydicom() -> None:
    """Import ``pydicom`` (and with it ``pydicom.pixels``) without ``requests``.

    ``pydicom.pixels`` imports ``pydicom.data.download``, which imports ``requests`` when it
    is installed, and ``urllib3`` then creates and binds an IPv6 socket at import time (its
    HAS_IPV6 probe). The app never downloads anything, so ``requests`` is hidden for that
    one import and pydicom falls back to urllib (unused). tests/reliability/test_no_network.py
    proves no socket is opened.
    """
    if "pydicom.pixels" in sys.modules or "requests" in sys.modules:
        import pydicom  # noqa: F401
        return
    sys.modules["requests"] = None  # type: ignore[assignment]  # makes `import requests` fail
    try:
        import pydicom  # noqa: F401
        import pydicom.pixels  # noqa: F401
    finally:
        if "requests" in sys.modules and sys.modules["requests"] is None:
            del sys.modules["requests"]


def _check_deflate_bomb(data: bytes) -> None:
    """Refuse a deflated dataset that would inflate beyond :data:`MAX_INFLATED_BYTES`.

    pydicom inflates the whole body with ``zlib.decompress`` (no limit); a 1 MB file can hold
    1 GB of zeros. The file meta group is small, so the transfer syntax UID sits near the start.
    """
    if _DEFLATED_TS not in data[:8192]:
        return
    from pydicom.filereader import _read_file_meta_info, read_preamble

    fp = io.BytesIO(data)
    try:
        read_preamble(fp, force=True)
        _read_file_meta_info(fp)
    except Exception as exc:
        raise ImageLoadError(f"Corrupt DICOM file meta information: {exc}") from None
    # Count the inflated size in 1 MB steps, keeping none of it.
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pending = data[fp.tell():]
    total = 0
    try:
        while pending:
            total += len(inflater.decompress(pending, 1 << 20))
            if total > MAX_INFLATED_BYTES:
                break
            pending = inflater.unconsumed_tail
        total += len(inflater.flush())
    except zlib.error as exc:
        raise ImageLoadError(f"Corrupt deflated DICOM data: {exc}") from None
    if total > MAX_INFLATED_BYTES:
        raise ImageLoadError(
            f"Deflated DICOM data expands beyond {MAX_INFLATED_BYTES // 2**20} MB "
            "(possible decompression bomb)"
        )


def _read_dataset(data: bytes):  # -> pydicom.Dataset
    import pydicom
    from pydicom.errors import InvalidDicomError

    _check_deflate_bomb(data)
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=not data[128:132] == b"DICM")
        _ensure_transfer_syntax(ds)
        return ds
    except InvalidDicomError as exc:
        raise ImageLoadError(f"Not a valid DICOM file: {exc}") from None
    except MemoryError:
        raise ImageLoadError("DICOM header too large to read") from None
    except Exception as exc:  # pydicom raises many types on corrupt headers
        raise ImageLoadError(f"Corrupt DICOM header: {type(exc).__name__}: {exc}") from None


def _ensure_transfer_syntax(ds) -> None:  # noqa: ANN001 (pydicom Dataset)
    """Headerless DICOM has no file meta; pydicom 3 needs a transfer syntax to decode pixels.
    Native (uncompressed) pixel data is decodable with the encoding the dataset was read in."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    if "PixelData" in ds and ds["PixelData"].is_undefined_length:
        return  # encapsulated (compressed) data of unknown syntax: decoding will say so
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        return
    uid = (ImplicitVRLittleEndian if implicit
           else ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    if meta is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uid


def _int_tag(ds, keyword: str, default: int) -> int:  # noqa: ANN001 (pydicom Dataset)
    """An integer element, ``default`` when absent or empty; ImageLoadError when garbage."""
    try:
        value = ds.get(keyword, default)
        return int(value) if value not in (None, "") else default
    except Exception:
        raise ImageLoadError(f"DICOM element {keyword} is not a number") from None


def decode_dicom(data: bytes) -> DecodedImage:
    """Decode DICOM bytes; the first frame of a multi-frame object is used."""
    import_pydicom()
    ds = _read_dataset(data)
    info = _descriptive_info(ds)
    rows, cols, frames, spp = _checked_geometry(ds)
    arr = _first_frame_pixels(ds, frames, spp)
    if frames > 1:
        info["Frames"] = str(frames)
    if arr.ndim == 3 and spp >= 3:
        return _decode_colour(arr, (cols, rows), info, frames)
    if arr.ndim != 2:
        raise ImageLoadError(f"Unsupported DICOM pixel layout: shape {arr.shape}")
    out, shown, display = _grey_for_model_and_viewer(arr, ds)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "MONOCHROME1":
        out = 255 - out
        display = None if display is None else 255 - display
        shown = None if shown is None else (shown[1], shown[0])
    return DecodedImage(out, "DICOM", (cols, rows), False, 0.0, info, shown, display,
                        frames=frames)


def _descriptive_info(ds) -> dict[str, str]:  # noqa: ANN001 (pydicom Dataset)
    """The readable, non-empty :data:`INFO_TAGS` of ``ds``."""
    info = {}
    for tag in INFO_TAGS:
        try:  # elements are parsed lazily: a corrupt descriptive tag must not cost the image
            value = ds.get(tag)
            text = "" if value is None else str(value).strip()
        except Exception as exc:
            log.debug("DICOM %s unreadable: %s", tag, exc)
            continue
        if text:
            info[tag] = text
    return info


def _checked_geometry(ds) -> tuple[int, int, int, int]:  # noqa: ANN001 (pydicom Dataset)
    """(rows, columns, frames, samples per pixel), refused before any pixel is decoded."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageLoadError("DICOM file has no pixel data (not an image object)")
    try:
        rows = int(ds.Rows)
        cols = int(ds.Columns)
    except Exception:
        raise ImageLoadError("DICOM file lacks Rows/Columns") from None
    check_geometry(cols, rows)
    frames = max(1, _int_tag(ds, "NumberOfFrames", 1))
    spp = _int_tag(ds, "SamplesPerPixel", 1)
    if spp not in (1, 3, 4):
        raise ImageLoadError(f"Unsupported DICOM SamplesPerPixel {spp}")
    if rows * cols * spp > 4 * MAX_PIXELS:
        raise ImageLoadError(f"DICOM pixel data too large: {cols}x{rows}x{spp}")
    return rows, cols, frames, spp


def _first_frame_pixels(ds, frames: int, spp: int) -> np.ndarray:  # noqa: ANN001
    """The stored pixel array of the first frame; decoder failures become ImageLoadError."""
    try:
        from pydicom.pixels import pixel_array

        arr = pixel_array(ds, index=0) if frames > 1 else ds.pixel_array
    except NotImplementedError as exc:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(ts, "name", str(ts))
        raise ImageLoadError(f"Unsupported DICOM transfer syntax {name}: {exc}") from None
    except (RuntimeError, ValueError, AttributeError, TypeError, KeyError, EOFError, OSError) as exc:
        raise ImageLoadError(f"Cannot decode DICOM pixel data: {type(exc).__name__}: {exc}") from None
    except MemoryError:
        raise ImageLoadError("DICOM pixel data too large to decode") from None
    except Exception as exc:  # plugin decoders raise their own types on corrupt streams
        raise ImageLoadError(f"Cannot decode DICOM pixel data: {type(exc).__name__}: {exc}") from None
    arr = np.asarray(arr)
    if arr.ndim == 3 and spp == 1 and frames > 1:  # a handler that ignored index=0
        arr = arr[0]
    return arr


def _decode_colour(arr: np.ndarray, size: tuple[int, int], info: dict[str, str],
                   frames: int) -> DecodedImage:
    """Colour DICOM (secondary capture, photos): pydicom converts YBR to RGB by default."""
    rgb = scale_to_uint8(arr[..., :3]) if arr.dtype != np.uint8 else arr[..., :3]
    colorful = colorfulness(rgb)
    was_color = colorful > COLOUR_CUTOFF
    gray = (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float64)
    out = scale_to_uint8(gray) if gray.max() > gray.min() else gray.astype(np.uint8)
    return DecodedImage(out, "DICOM", size, was_color, colorful, info, frames=frames)


def _grey_for_model_and_viewer(
    arr: np.ndarray, ds,  # noqa: ANN001 (pydicom Dataset)
) -> tuple[np.ndarray, tuple[float, float] | None, np.ndarray | None]:
    """(model pixels, shown value range, viewer image) of a grey frame, before MONOCHROME1.

    The model reads the stored values scaled by their own range (MONOCHROME1 inverted),
    whatever the stored VOI window or LUT: a site's presentation choice must not change the
    decision (issue 21). The viewer shows the windowed image (``display``).
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    shown: tuple[float, float] | None = None
    display: np.ndarray | None = None
    try:
        values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
        out = scale_to_uint8(values)
        window = _first_window(ds)
        if "VOILUTSequence" in ds:
            display = scale_to_uint8(np.asarray(apply_voi_lut(values, ds, index=0)))
        elif window is not None:
            display = _linear_window(values, *window)
            shown = (window[0] - window[1] / 2.0, window[0] + window[1] / 2.0 - 1.0)
        else:
            lo, hi = float(values.min()), float(values.max())
            if np.isfinite(lo) and np.isfinite(hi) and hi > lo:  # else scaled otherwise
                shown = (lo, hi)
    except ImageLoadError:
        raise
    except Exception as exc:  # malformed LUTs must not crash the batch
        log.warning("DICOM LUT could not be applied (%s); using raw values", exc)
        return scale_to_uint8(arr), None, None
    return out, shown, display


def _first_window(ds) -> tuple[float, float] | None:
    """The first (centre, width) pair, or None when absent or unusable."""
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    try:
        centre = _first_value(ds.WindowCenter)
        width = _first_value(ds.WindowWidth)
    except (TypeError, ValueError, IndexError):
        return None
    if not np.isfinite(centre) or not np.isfinite(width) or width < 1:
        return None
    return centre, width


def _linear_window(values: np.ndarray, centre: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2 'LINEAR' windowing straight to 0..255."""
    if width <= 1:
        return np.where(values <= centre - 0.5, 0, 255).astype(np.uint8)
    y = (values - (centre - 0.5)) / (width - 1) + 0.5
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


def _first_value(value: object) -> float:
    """DICOM multi-valued elements (MultiValue) hold several windows; take the first."""
    if isinstance(value, (str, bytes, int, float)):
        return float(value)
    return float(list(value)[0])  # type: ignore[call-overload]
