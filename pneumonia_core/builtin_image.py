"""The built-in test film of ``--self-test`` and the model pin (Qt-free, no files needed).

The converter stores the shipped model's probability for this film in the pin
(:mod:`pneumonia_core.pinned_model`); ``--self-test`` recomputes it on the installed runtime, so a
model or runtime that computes something else fails the self-test instead of passing it.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pneumonia_core.model import ModelBundle, Prediction

#: How far the self-test probability may drift from the pinned value (other CPUs may round
#: the int8 arithmetic differently; a changed weight moves it far more).
SELF_TEST_TOLERANCE = 0.01


def builtin_image(size: int = 256) -> np.ndarray:
    """A deterministic grey chest-like picture: bright body, two dark lung fields, noise."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    # Film grain from an integer hash (numpy.random is not in the bundle).
    cells = np.arange(size * size, dtype=np.uint64).reshape(size, size)
    grain = ((cells * np.uint64(2654435761)) >> np.uint64(7)) % np.uint64(61)
    img = 140.0 + grain.astype(np.float64)
    for cx in (0.32, 0.68):
        lung = ((xx - cx) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1.0
        img[lung] -= 100.0
    img = np.clip(img, 0, 255).astype(np.uint8)
    img[0, 0], img[0, 1] = 0, 255  # full range: DICOM scaling is then the identity
    return img


def png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def model_input(img: np.ndarray, size: int) -> np.ndarray:
    """``img`` through the app's own loader: PNG bytes -> decode -> model input (may raise
    :class:`~pneumonia_core.imageio.ImageLoadError`)."""
    from pneumonia_core.imageio import decode_bytes, to_model_input

    decoded = decode_bytes(png_bytes(img), draft_size=size)
    return to_model_input(decoded.pixels, size)


def predict_builtin(bundle: ModelBundle) -> Prediction:
    """The bundle's prediction for the built-in film."""
    return bundle.predict(model_input(builtin_image(), bundle.input_size))
