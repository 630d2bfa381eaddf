"""Property-based robustness: random and mutated bytes never make the loader raise anything but
ImageLoadError, never return anything but a 2-D uint8 image, and never take long.

Seeds are valid JPEG (grey, colour progressive, CMYK, EXIF-rotated), PNG (8/16-bit, palette,
RGBA), TIFF (plain, LZW, float), BMP and DICOM (native, MONOCHROME1, deflated, headerless, RLE,
JPEG-LS, JPEG 2000) files; mutations flip bits, overwrite bytes and 32-bit
header fields with extreme values, truncate, splice two seeds and insert or repeat chunks.
The run is derandomized (the same examples in CI every time); for a longer local hunt set
PNEUMONIA_FUZZ_EXAMPLES=20000 and PNEUMONIA_FUZZ_RANDOM=1 (fresh random examples).
"""

from __future__ import annotations

import functools
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pneumonia_core.imageio import (
    MAX_PIXELS,
    DecodedImage,
    ImageLoadError,
    decode_bytes,
    to_model_input,
)
from tests.reliability.builders import deflated_dicom, dicom_bytes, encode, pydicom_test_file, xray

EXAMPLES = int(os.environ.get("PNEUMONIA_FUZZ_EXAMPLES", "0"))
RANDOM = bool(os.environ.get("PNEUMONIA_FUZZ_RANDOM"))

pytestmark = [pytest.mark.timeout(3600 if EXAMPLES else 300), pytest.mark.filterwarnings("ignore::UserWarning")]


@functools.cache
def seeds() -> tuple[bytes, ...]:
    g = xray((48, 40), seed=11)
    out = [
        encode(g, "JPEG", quality=80),
        encode(Image.fromarray(np.stack([g, g, g // 2], -1)), "JPEG", quality=70, progressive=True),
        encode(g, "PNG"),
        encode(g.astype(np.uint16) * 64, "PNG"),
        encode(Image.fromarray(g).convert("P"), "PNG"),
        encode(g, "TIFF"),
        encode(g, "TIFF", compression="tiff_lzw"),
        encode(Image.fromarray(g.astype(np.float32) / 7), "TIFF"),
        encode(g, "BMP"),
        encode(Image.fromarray(np.stack([g, g, g], -1)).convert("CMYK"), "JPEG"),
        encode(g, "JPEG", exif=_exif(6)),
        encode(Image.fromarray(np.dstack([g, g, g, 255 - g])), "PNG"),
        dicom_bytes(g),
        dicom_bytes(g.astype(np.uint16) * 16, photometric="MONOCHROME1", window=(2000.0, 1500.0)),
        deflated_dicom(g),
        dicom_bytes(g, preamble=False),
    ]
    for name in ("MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"):
        out.append(pydicom_test_file(name))
    return tuple(out)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def check_decode(data: bytes) -> None:
    try:
        decoded = decode_bytes(data, draft_size=64)
    except ImageLoadError as exc:
        assert str(exc).strip()
        return
    assert isinstance(decoded, DecodedImage)
    px = decoded.pixels
    assert isinstance(px, np.ndarray) and px.dtype == np.uint8 and px.ndim == 2
    assert 0 < px.size <= MAX_PIXELS
    assert to_model_input(px, 32).shape == (32, 32)


EXTREMES = (0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    pool = seeds()
    data = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "byte", "int32", "truncate", "splice", "insert", "repeat"]))
        n = len(data)
        if n == 0:
            break
        pos = draw(st.integers(0, n - 1))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif op == "int32" and pos + 4 <= n:
            fmt = draw(st.sampled_from(["<I", ">I", "<H", ">H"]))
            value = draw(st.sampled_from(EXTREMES)) & (0xFFFF if fmt[1] == "H" else 0xFFFFFFFF)
            struct.pack_into(fmt, data, pos, value)
        elif op == "truncate":
            del data[pos:]
        elif op == "splice":
            other = draw(st.sampled_from(pool))
            data = data[:pos] + other[draw(st.integers(0, len(other) - 1)):]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "repeat":
            end = min(n, pos + draw(st.integers(1, 256)))
            data[pos:pos] = data[pos:end] * draw(st.integers(1, 50))
    return bytes(data)


MAGICS = (b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM",
          b"\0" * 128 + b"DICM", b"\x08\x00\x05\x00", b"GIF89a", b"%PDF")


def fuzz_settings(examples: int):  # -> hypothesis settings decorator
    return settings(
        max_examples=EXAMPLES or examples,
        deadline=3000,  # ms per example: a slow input is a failure, not a pass
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.mark.slow
@fuzz_settings(2000)
@given(data=mutated())
def test_mutated_files_raise_only_image_load_error(data: bytes) -> None:
    check_decode(data)


@fuzz_settings(800)
@given(prefix=st.sampled_from(MAGICS), body=st.binary(min_size=0, max_size=2048))
def test_random_bytes_raise_only_image_load_error(prefix: bytes, body: bytes) -> None:
    check_decode(prefix + body)


def test_seeds_are_valid_images() -> None:
    """The mutations start from files that decode (so the fuzzing exercises the decoders)."""
    for data in seeds():
        decoded = decode_bytes(data)
        assert decoded.pixels.ndim == 2 and decoded.pixels.size > 0
