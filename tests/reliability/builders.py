"""Builders of odd and hostile files, in memory: bombs (headers declaring huge sizes), DICOM
objects of any photometric/transfer syntax/frame layout, a deflate bomb, and pydicom's
bundled compressed test files. Used by the corpus, the bounds tests and the fuzz seeds.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from bench.dicom_films import dataset_bytes, dx_dataset
from tests.conftest import synthetic_xray


def xray(size: tuple[int, int] = (256, 224), seed: int = 1) -> np.ndarray:
    """A generated film stretched to the full 0..255 range, so that decoders which scale by
    the image's own range (DICOM, 16-bit) must give it back unchanged."""
    a = synthetic_xray(seed, size=size).astype(np.float64)
    return np.rint((a - a.min()) * 255.0 / (a.max() - a.min())).astype(np.uint8)


def encode(arr_or_im: np.ndarray | Image.Image, fmt: str, **kw: object) -> bytes:
    im = arr_or_im if isinstance(arr_or_im, Image.Image) else Image.fromarray(arr_or_im)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int, bit_depth: int = 8, colour: int = 0) -> bytes:
    """A PNG whose IHDR declares ``width x height`` followed by one tiny IDAT: a bomb header."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def jpeg_with_size(width: int, height: int) -> bytes:
    """A valid small JPEG whose SOF0 marker is patched to declare ``width x height``."""
    data = bytearray(encode(xray((64, 64)), "JPEG"))
    i = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, height, width)
    return bytes(data)


def bmp_with_size(width: int, height: int) -> bytes:
    data = bytearray(encode(xray((32, 32)), "BMP"))
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


def tiff_with_size(width: int, height: int) -> bytes:
    out = bytearray(encode(xray((32, 32)), "TIFF"))
    # Patch the ImageWidth (256) and ImageLength (257) entries of the first IFD.
    (ifd,) = struct.unpack_from("<I", out, 4)
    (count,) = struct.unpack_from("<H", out, ifd)
    for k in range(count):
        off = ifd + 2 + 12 * k
        tag, typ = struct.unpack_from("<HH", out, off)
        if tag in (256, 257):
            struct.pack_into("<HHII", out, off, tag, 4, 1, width if tag == 256 else height)
    return bytes(out)


def dicom_bytes(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    modality: str = "DX",
    body_part: str = "CHEST",
    window: tuple[float, float] | None = None,
    transfer_syntax: str | None = None,
    frames: int = 1,
    with_pixels: bool = True,
    preamble: bool = True,
    rows_cols: tuple[int, int] | None = None,
) -> bytes:
    """A DICOM Part 10 object (:func:`bench.dicom_films.dx_dataset`, the one generated-DICOM
    builder) with the oddities the robustness tests need. ``pixels`` is (H, W) or (frames, H, W);
    ``frames`` > 1 repeats a 2-D ``pixels``."""
    from pydicom.uid import ExplicitVRLittleEndian

    arr = np.asarray(pixels)
    if with_pixels and frames > 1 and arr.ndim == 2:
        arr = np.stack([arr] * frames)
    ds = dx_dataset(arr if with_pixels else None, photometric, Modality=modality,
                    BodyPartExamined=body_part, PatientAge="003Y")
    if with_pixels and rows_cols is not None:
        ds.Rows, ds.Columns = rows_cols
    if with_pixels and window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if not preamble:
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import write_dataset

        buf = DicomBytesIO()
        buf.is_little_endian = True
        buf.is_implicit_VR = True
        write_dataset(buf, ds)
        return buf.getvalue()
    if transfer_syntax and transfer_syntax != ExplicitVRLittleEndian:
        from pydicom.encaps import encapsulate

        ds.file_meta.TransferSyntaxUID = transfer_syntax
        ds.PixelData = encapsulate([arr.tobytes()[: len(arr.tobytes()) // 2]])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    return dataset_bytes(ds)


def deflate_bomb_dicom(inflated_bytes: int) -> bytes:
    """Deflated Explicit VR Little Endian DICOM whose body inflates to ``inflated_bytes``."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.filewriter import write_file_meta_info

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = "1.2.840.10008.1.2.1.99"
    buf = io.BytesIO()
    buf.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(buf, meta, enforce_standard=True)
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    # An OB element of the full length, then zeros: a valid-looking body. After a full flush
    # the compressor starts afresh, so one compressed megabyte of zeros can be repeated.
    head = comp.compress(struct.pack("<HH2sHI", 0x0009, 0x0010, b"OB", 0, inflated_bytes - 12))
    head += comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(b"\0" * (1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
    blocks = block * (inflated_bytes >> 20)
    return buf.getvalue() + head + blocks + comp.flush()


def deflated_dicom(pixels: np.ndarray) -> bytes:
    """A normal image in the Deflated Explicit VR Little Endian transfer syntax."""
    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = pydicom.dcmread(io.BytesIO(dicom_bytes(pixels)))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return dataset_bytes(ds)


def pydicom_test_file(name: str) -> bytes:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"pydicom test file {name} is not installed")
    return Path(path).read_bytes()


def mr_small_reference() -> np.ndarray:
    """MR_small.dcm decoded by pydicom and scaled like the loader does (reference for the
    lossless compressed variants)."""
    from pneumonia_core.imageio import decode_bytes

    return decode_bytes(pydicom_test_file("MR_small.dcm")).pixels


