"""The viewer shows every pixel of a full-size film although the model's input is made from a
JPEG reduced in its decoder (issue 21, docs/image-path.md): one decode per selection in full
for the display, its stored size known, and the heatmap the classification's own."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from desktop.jobs import load_preview
from pneumonia_core.imageio import decode_bytes, reduction_factor
from pneumonia_core.model import ModelBundle
from pneumonia_core.pipeline import classify_file
from tests.conftest import SHARED_DATA, synthetic_xray


def test_a_large_jpeg_is_shown_in_full_and_classified_from_its_reduced_decode(
        model_dir: Path, tmp_path: Path) -> None:
    # a real film brought up to detector size when the data is there (the guard reads it as a
    # chest X-ray), else a generated one
    real = sorted((SHARED_DATA / "test_public" / "PNEUMONIA").glob("*.jpeg"))[:1]
    film = (np.asarray(Image.open(real[0]).convert("L").resize((1500, 1200),
                                                              Image.Resampling.BICUBIC))
            if real else synthetic_xray(3, size=(1500, 1200), pneumonia=True))
    path = tmp_path / "big.jpeg"
    buf = io.BytesIO()
    Image.fromarray(film).save(buf, format="JPEG", quality=92)
    path.write_bytes(buf.getvalue())
    assert reduction_factor(1500, 1200, 224) >= 2  # the model input comes from a reduced decode
    drafted = decode_bytes(path.read_bytes(), draft_size=224)
    assert drafted.pixels.shape[0] < 1200
    bundle = ModelBundle.load(model_dir)
    preview = load_preview(str(path), bundle)
    full = decode_bytes(path.read_bytes())
    assert preview.error == ""
    assert preview.pixels.shape == (1200, 1500) == full.pixels.shape  # every pixel, long side <= 2048
    np.testing.assert_array_equal(preview.pixels, full.pixels)
    assert preview.original_size == (1500, 1200)
    ref = classify_file(path, bundle, keep_cam=True)
    assert ref.status == "ok" and ref.cam is not None and preview.cam is not None
    np.testing.assert_allclose(preview.cam, ref.cam, atol=1e-6)
