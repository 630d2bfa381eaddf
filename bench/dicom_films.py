"""Generated DX DICOM files for tests, the screenshots and the benchmark (no real patient).

One builder for every place that needs a small uncompressed (or RLE) Digital X-Ray DICOM of
given pixels: the image-path encodings, the viewer and worklist tests, ``scripts/screenshot.py``.
Owned by ``bench`` (tests import it from here; bench never imports tests).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

#: Digital X-Ray Image Storage, For Presentation.
DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"


def dx_dicom_bytes(pixels: np.ndarray, photometric: str = "MONOCHROME2",
                   bits_stored: int | None = None, rle: bool = False, **tags: str) -> bytes:
    """A single-frame chest DX DICOM (Modality DX, BodyPartExamined CHEST) holding ``pixels``
    (2-D uint8 or uint16) as stored values; ``bits_stored`` defaults to 12 for uint16 and 8 for
    uint8. ``tags`` (e.g. ``PatientName="Demo^Patient"``, ``ViewPosition="AP"``) are set as
    given. ``rle``: RLE Lossless transfer syntax instead of Explicit VR Little Endian."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

    if pixels.ndim != 2 or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected 2-D uint8 or uint16 pixels, received shape={pixels.shape} "
                         f"dtype={pixels.dtype}")
    allocated = 16 if pixels.dtype == np.uint16 else 8
    stored = bits_stored if bits_stored is not None else (12 if allocated == 16 else 8)
    ds = Dataset()
    ds.SOPClassUID = DX_SOP_CLASS
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.BodyPartExamined = "CHEST"
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = allocated, stored, stored - 1
    ds.PixelRepresentation = 0
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    data = np.ascontiguousarray(pixels)
    ds.PixelData = data.tobytes()
    if rle:
        ds.compress(RLELossless, data)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_dx_dicom(path: Path, pixels: np.ndarray, photometric: str = "MONOCHROME2",
                   bits_stored: int | None = None, **tags: str) -> Path:
    """:func:`dx_dicom_bytes` written to ``path`` (parent folders created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dx_dicom_bytes(pixels, photometric, bits_stored, **tags))
    return path
