"""The shared loader: parity between paths, formats, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pneumonia_core.imageio import (
    ImageLoadError,
    decode_bytes,
    load_image,
    read_file_bytes,
    to_model_input,
)
from tests.conftest import synthetic_xray


def test_full_resolution_file_same_array_through_every_entry_point(full_res_images: list[Path]) -> None:
    path = full_res_images[0]
    a = load_image(path, 224)
    b = to_model_input(decode_bytes(read_file_bytes(path), draft_size=224).pixels, 224)
    assert a.shape == (224, 224) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert a.std() > 10  # a real picture, not a constant


def test_16bit_png_uses_its_full_range(tmp_path: Path) -> None:
    base = synthetic_xray(3).astype(np.uint16) * 16  # 12-bit values in a 16-bit PNG
    p = tmp_path / "x16.png"
    Image.fromarray(base).save(p)
    decoded = decode_bytes(read_file_bytes(p))
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.min() == 0 and decoded.pixels.max() == 255
    assert load_image(p, 224).std() > 20


@pytest.mark.parametrize("content", [b"", b"hello, not an image", b"\xff\xd8\xff\xe0" + b"\0" * 40])
def test_bad_bytes_raise_a_clear_error(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "bad.jpeg"
    p.write_bytes(content)
    with pytest.raises(ImageLoadError):
        load_image(p)


def _reference_scale(arr: np.ndarray) -> np.ndarray:
    """The whole-array formula that the chunked scale_to_uint8 must reproduce exactly."""
    a = arr.astype(np.float64)
    finite = np.isfinite(a)
    lo, hi = float(a[finite].min()), float(a[finite].max())
    a = np.where(finite, a, lo)
    if hi <= lo:
        return np.zeros(a.shape, np.uint8)
    return np.clip(np.rint((a - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.int32, np.float32, np.float64])
def test_chunked_scaling_equals_the_whole_array_formula(dtype, monkeypatch) -> None:
    from pneumonia_core import decoded_image, imageio

    monkeypatch.setattr(decoded_image, "_CHUNK_PIXELS", 1000)  # force many chunks
    rng = np.random.default_rng(4)
    arr = (rng.standard_normal((97, 131)) * 3000).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        arr[3, 5] = np.nan
        arr[50, :7] = np.inf
        arr[60, 1] = -np.inf
    np.testing.assert_array_equal(imageio.scale_to_uint8(arr), _reference_scale(arr))


#: EXIF orientation -> how the stored pixels must be turned for display (EXIF 2.32, 4.6.4).
DISPLAY = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.T,
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].T,
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", sorted(DISPLAY))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_every_exif_orientation_is_applied(tmp_path: Path, orientation: int, fmt: str) -> None:
    img = np.full((60, 100), 40, np.uint8)
    img[:20, :30] = 255  # a bright block in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / f"o.{fmt.lower()}"
    Image.fromarray(img).save(p, format=fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    decoded = decode_bytes(read_file_bytes(p)).pixels
    expected = DISPLAY[orientation](img)
    assert decoded.shape == expected.shape
    assert np.abs(decoded.astype(int) - expected).max() <= (0 if fmt == "PNG" else 40)
    assert load_image(p, 64).shape == (64, 64)


@pytest.mark.parametrize("fmt,name", [("GIF", "GIF image"), ("WEBP", "WebP image"),
                                      ("ICO", "Windows icon")])
def test_other_pillow_formats_are_refused_by_name(fmt: str, name: str) -> None:
    import io

    buf = io.BytesIO()
    Image.fromarray(synthetic_xray(1)[:64, :64]).save(buf, format=fmt)
    with pytest.raises(ImageLoadError, match=f"Unsupported file type: {name}"):
        decode_bytes(buf.getvalue())


def test_headerless_and_deflated_dicom_decode() -> None:
    from tests.reliability.builders import deflated_dicom, dicom_bytes, xray

    grey = xray(seed=2)  # full 0..255 range: DICOM decoding scales by the image's own range
    np.testing.assert_array_equal(decode_bytes(dicom_bytes(grey, preamble=False)).pixels, grey)
    np.testing.assert_array_equal(decode_bytes(deflated_dicom(grey)).pixels, grey)


def test_a_jpeg_loads_only_pillows_jpeg_plugin_and_other_formats_still_decode(
        tmp_path: Path) -> None:
    """The loader imports the Pillow plugin a file's signature names (issue 22, start-up): a
    JPEG without EXIF loads neither the other formats' plugins (Pillow's preinit would load
    PNG, BMP, GIF, PPM) nor TIFF's; after it, in the same process, PNG, BMP and TIFF bytes of
    the same picture decode to the same pixels and Pillow still writes a PNG."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    picture = synthetic_xray(7)
    Image.fromarray(picture).save(tmp_path / "film.jpeg", quality=95)
    for fmt in ("png", "bmp", "tiff"):
        Image.fromarray(picture).save(tmp_path / f"film.{fmt}")
    code = f"""
import io, sys
import numpy as np
from pneumonia_core.imageio import decode_bytes, read_file_bytes
folder = {str(tmp_path)!r}
decode_bytes(read_file_bytes(folder + "/film.jpeg"), draft_size=224)
print(*sorted(m for m in sys.modules if m.startswith("PIL.") and m.endswith("Plugin")))
pixels = [decode_bytes(read_file_bytes(f"{{folder}}/film.{{f}}")).pixels for f in ("png", "bmp", "tiff")]
print(all(np.array_equal(pixels[0], p) for p in pixels), pixels[0].shape)
from PIL import Image
buf = io.BytesIO()
Image.fromarray(pixels[0]).save(buf, format="PNG")
print(np.array_equal(decode_bytes(buf.getvalue()).pixels, pixels[0]))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert lines == ["PIL.JpegImagePlugin", f"True {picture.shape}", "True"], (
        done.stdout + done.stderr)
