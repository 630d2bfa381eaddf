"""The model input of full-size films (issue 21: ``classify`` at >= 150 films a second).

A film whose short side is at least 2 x REDUCING_GAP x 224 - 1 is reduced by a power of two before
the training preparation's bicubic resize and JPEG q75 round trip: a JPEG in its decoder (DCT
scaling), any other format by a box average (docs/image-path.md). Model-size (224) files, the
training and test_public films, are used exactly as before; the viewer still decodes in full.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pneumonia_core.imageio import (
    REDUCING_GAP,
    TRAINING_JPEG_QUALITY,
    decode_bytes,
    load_image,
    reduction_factor,
    to_model_input,
)
from tests.conftest import SHARED_DATA

SIZE = 224


def _jpeg(gray: np.ndarray, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _film(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth film-like image with some fine detail."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 128 + 80 * np.sin(x / w * 6.0) * np.cos(y / h * 4.0)
    return np.clip(base + rng.normal(0, 12, (h, w)), 0, 255).astype(np.uint8)


def _training_way(gray: np.ndarray) -> np.ndarray:
    """How the training images were made: RGB, Pillow's default bicubic, JPEG q75, grey."""
    im = Image.fromarray(gray, mode="L").convert("RGB").resize((SIZE, SIZE))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=TRAINING_JPEG_QUALITY)
    return np.asarray(Image.open(buf).convert("L"))


def test_reduction_factor_keeps_the_gap_and_is_a_power_of_two() -> None:
    need = REDUCING_GAP * SIZE
    for w, h in [(224, 224), (300, 500), (447, 2000), (896, 1000), (1776, 1416), (4300, 4300),
                 (8000, 8000), (968, 592), (3000, 1000)]:
        f = reduction_factor(w, h, SIZE)
        assert f >= 1 and f & (f - 1) == 0, (w, h, f)
        short = -(-min(w, h) // f)
        assert short >= need or f == 1, (w, h, f)  # keeps at least the gap ...
        assert -(-min(w, h) // (2 * f)) < need, (w, h, f)  # ... and reduces as far as it may
    assert reduction_factor(224, 224, SIZE) == 1
    assert reduction_factor(int(2 * need) - 2, 5000, SIZE) == 1
    assert reduction_factor(int(2 * need) - 1, 5000, SIZE) == 2  # ceil(447 / 2) = 224


def test_reducing_in_two_steps_ends_where_reducing_at_once_does() -> None:
    """A JPEG reduced by its decoder (at most 1/8) and then by to_model_input ends at the
    size a lossless copy reduced at once gets, and a reduced film is not reduced again."""
    rng = np.random.default_rng(1)
    for _ in range(2000):
        w, h = (int(v) for v in rng.integers(16, 9000, 2))
        f = reduction_factor(w, h, SIZE)
        first = min(f, 8)
        w1, h1 = -(-w // first), -(-h // first)
        assert reduction_factor(w1, h1, SIZE) * first == f, (w, h)
        assert reduction_factor(-(-w // f), -(-h // f), SIZE) == 1, (w, h)


def test_a_model_size_film_is_used_exactly_as_stored(tmp_path) -> None:  # noqa: ANN001
    """The training and test_public files (224 x 224 JPEGs) give their own decoded pixels,
    byte for byte, as before: no reduction, no resize, no round trip."""
    real = sorted((SHARED_DATA / "test_public").glob("*/*.jpeg"))[:20]
    if real:
        files = real
    else:
        files = []
        for i in range(3):
            files.append(tmp_path / f"f{i}.jpeg")
            files[-1].write_bytes(_jpeg(_film(SIZE, SIZE, i), 75))
    for path in files:
        with Image.open(path) as im:
            if im.size != (SIZE, SIZE):
                continue
            stored = np.asarray(im.convert("L"))
        got = load_image(path, SIZE)
        assert got.tobytes() == stored.tobytes(), path.name


def test_a_film_too_small_to_reduce_is_prepared_as_the_training_images_were() -> None:
    short = int(2 * REDUCING_GAP * SIZE) - 2  # the largest short side left as it is
    for shape in [(short, short + 300), (300, 260), (SIZE + 1, SIZE)]:
        gray = _film(*shape)
        np.testing.assert_array_equal(to_model_input(gray, SIZE), _training_way(gray))


def test_the_grey_jpeg_round_trip_equals_the_training_images_rgb_one() -> None:
    """to_model_input saves a grey JPEG; the training images were saved as grey-as-RGB.
    Same pixels, on noise, ramps, flat extremes and films (all 225 px: resized, not reduced)."""
    rng = np.random.default_rng(2)
    side = SIZE + 1
    images = [rng.integers(0, 256, (side, side), dtype=np.uint8),
              np.tile(np.arange(side, dtype=np.uint8), (side, 1)),
              np.zeros((side, side), np.uint8), np.full((side, side), 255, np.uint8),
              *(_film(side, side + 37, s) for s in range(6)),
              *(np.asarray(Image.fromarray(_film(900, 700, s)).resize((side, side)))
                for s in range(3))]
    for gray in images:
        assert reduction_factor(gray.shape[1], gray.shape[0], SIZE) == 1
        np.testing.assert_array_equal(to_model_input(gray, SIZE), _training_way(gray))


def test_a_large_film_is_box_reduced_then_prepared() -> None:
    gray = _film(1500, 1100)
    f = reduction_factor(1100, 1500, SIZE)
    assert f > 1
    reduced = np.asarray(Image.fromarray(gray, mode="L").reduce(f))
    np.testing.assert_array_equal(to_model_input(gray, SIZE), _training_way(reduced))


def test_model_input_decodes_a_large_jpeg_reduced_and_keeps_its_stored_size() -> None:
    gray = _film(1416, 1776)
    data = _jpeg(gray)
    f = reduction_factor(1776, 1416, SIZE)
    full = decode_bytes(data)  # what the viewer gets
    assert full.pixels.shape == (1416, 1776) and full.original_size == (1776, 1416)
    drafted = decode_bytes(data, draft_size=SIZE)
    assert drafted.original_size == (1776, 1416)
    assert drafted.pixels.shape == (-(-1416 // f), -(-1776 // f))
    # nothing more to reduce: the bicubic step and round trip only
    np.testing.assert_array_equal(to_model_input(drafted.pixels, SIZE),
                                  _training_way(drafted.pixels))
    # and close to the box-reduced full decode (the lossless copies' path)
    diff = np.abs(to_model_input(drafted.pixels, SIZE).astype(int)
                  - to_model_input(full.pixels, SIZE).astype(int))
    assert diff.mean() < 2.0, diff.mean()


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_drafted_jpeg_keeps_exif_orientation_and_colour_measure(orientation: int) -> None:
    gray = _film(1000, 1300)
    rgb = np.dstack([gray, gray, gray]).copy()
    rgb[:, :400, 0] = 255  # a red band: a colour image, not grey stored as RGB
    im = Image.fromarray(rgb, mode="RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=95, exif=exif)
    full = decode_bytes(buf.getvalue())
    drafted = decode_bytes(buf.getvalue(), draft_size=SIZE)
    assert full.was_color and drafted.was_color
    assert abs(full.colorfulness - drafted.colorfulness) < 0.1 * full.colorfulness
    h, w = full.pixels.shape
    f = reduction_factor(w, h, SIZE)
    assert drafted.pixels.shape == (-(-h // f), -(-w // f))
    assert full.original_size == drafted.original_size == (1300, 1000)


def test_the_round_trip_is_decoded_as_image_open_decodes_it() -> None:
    """to_model_input decodes its q75 JPEG with Image.frombytes (the decoder and arguments
    Image.open uses for a grey JPEG, without parsing the file again): the same pixels as
    Image.open, on the val films (reduced as the app reduces them) or generated films."""
    films = sorted((SHARED_DATA / "val").glob("*/*.jpeg"))
    grays = ([decode_bytes(p.read_bytes(), draft_size=SIZE).pixels for p in films]
             or [_film(900, 700, s) for s in range(4)])
    rng = np.random.default_rng(9)
    grays += [rng.integers(0, 256, (500, 460), dtype=np.uint8), np.zeros((300, 301), np.uint8)]
    for gray in grays:
        im = Image.fromarray(gray, mode="L")
        f = reduction_factor(im.width, im.height, SIZE)
        small = (im.reduce(f) if f > 1 else im).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        small.save(buf, format="JPEG", quality=TRAINING_JPEG_QUALITY)
        with Image.open(buf) as back:
            expected = np.asarray(back.convert("L"))
        got = to_model_input(gray, SIZE)
        assert got.dtype == np.uint8 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected)
