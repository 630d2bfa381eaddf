"""Generated DX DICOM files for tests, the screenshots and the benchmark (no real patient).

One builder for every place that needs a small uncompressed (or RLE) Digital X-Ray DICOM of
given pixels: the image-path encodings, the viewer and worklist tests, ``scripts/screenshot.py``.
Owned by ``bench`` (tests import it from here; bench never imports tests).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

#: Digital X-Ray Image Storage, For Presentation.
DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"


def dx_dataset(pixels: np.ndarray | None, photometric: str = "MONOCHROME2",
               bits_stored: int | None = None, **tags: object) -> Any:
    """THE generated chest DX dataset (Modality DX, BodyPartExamined CHEST, Explicit VR Little
    Endian file meta): ``pixels`` (H, W) or (frames, H, W), uint8 or uint16, as stored values
    (``bits_stored`` defaults to 12 for uint16 and 8 for uint8); ``None``: no pixel attributes
    at all. ``tags`` (e.g. ``PatientName="Demo^Patient"``, ``Modality="CT"``) are set last."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.SOPClassUID = DX_SOP_CLASS
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.BodyPartExamined = "CHEST"
    if pixels is not None:
        if pixels.ndim not in (2, 3) or pixels.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"expected (frames,) H, W uint8 or uint16 pixels, received "
                             f"shape={pixels.shape} dtype={pixels.dtype}")
        allocated = 16 if pixels.dtype == np.uint16 else 8
        stored = bits_stored if bits_stored is not None else (12 if allocated == 16 else 8)
        ds.Rows, ds.Columns = pixels.shape[-2:]
        if pixels.ndim == 3:
            ds.NumberOfFrames = pixels.shape[0]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = allocated, stored, stored - 1
        ds.PixelRepresentation = 0
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def dataset_bytes(ds: Any) -> bytes:
    """A dataset as a DICOM Part 10 file (preamble, file meta) in memory."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dx_dicom_bytes(pixels: np.ndarray, photometric: str = "MONOCHROME2",
                   bits_stored: int | None = None, rle: bool = False, **tags: str) -> bytes:
    """:func:`dx_dataset` of 2-D ``pixels`` as a file; ``rle``: RLE Lossless transfer syntax
    instead of Explicit VR Little Endian."""
    from pydicom.uid import RLELossless

    if pixels.ndim != 2:
        raise ValueError(f"expected 2-D pixels, received shape={pixels.shape}")
    ds = dx_dataset(pixels, photometric, bits_stored, **tags)
    if rle:
        ds.compress(RLELossless, np.ascontiguousarray(pixels))
    return dataset_bytes(ds)


def write_dx_dicom(path: Path, pixels: np.ndarray, photometric: str = "MONOCHROME2",
                   bits_stored: int | None = None, **tags: str) -> Path:
    """:func:`dx_dicom_bytes` written to ``path`` (parent folders created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dx_dicom_bytes(pixels, photometric, bits_stored, **tags))
    return path
