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
