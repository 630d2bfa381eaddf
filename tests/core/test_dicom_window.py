"""A DICOM's stored VOI window is presentation: it changes what the viewer shows, never the
decision (issue 21). Each of the 16 full-size val films (generated films without the data) is
stored as 12-bit DX pixels, once without a window and three times with one (narrow, shifted,
a VOI LUT sequence); every windowed twin must get the same status and a P within 0.03.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bench.dicom_films import dx_dicom_bytes
from pneumonia_core.imageio import decode_bytes
from pneumonia_core.model import ModelBundle
from pneumonia_core.pipeline import classify_bytes

MAX_DP = 0.03


def _stored(path: Path) -> np.ndarray:
    """The film as 12-bit stored values (a detector's raw range, not the full 0..4095)."""
    im = Image.open(path).convert("L")
    im.thumbnail((1024, 1024))
    g = np.asarray(im, np.float64)
    return np.rint(300 + g * 13.0).astype(np.uint16)  # 300..3615


def _voi_lut_dicom(stored: np.ndarray) -> bytes:
    """A twin with a VOI LUT Sequence (a 12-bit LUT that brightens the lungs)."""
    import io

    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(io.BytesIO(dx_dicom_bytes(stored)))
    item = Dataset()
    first, n = 1000, 2048
    item.LUTDescriptor = [n, first, 12]
    lut = (4095 * np.sqrt(np.linspace(0, 1, n))).astype(np.uint16)
    item.add_new(0x00283006, "US", lut.tolist())  # LUTData, 16-bit entries
    ds.VOILUTSequence = Sequence([item])
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _twins(stored: np.ndarray) -> dict[str, bytes]:
    lo, hi = float(stored.min()), float(stored.max())
    mid = (lo + hi) / 2
    return {
        "none": dx_dicom_bytes(stored),
        "narrow": dx_dicom_bytes(stored, WindowCenter=f"{mid:.0f}",
                                 WindowWidth=f"{(hi - lo) / 4:.0f}"),
        "shifted": dx_dicom_bytes(stored, WindowCenter=f"{lo + (hi - lo) * 0.25:.0f}",
                                  WindowWidth=f"{(hi - lo) * 0.6:.0f}"),
        "voi_lut": _voi_lut_dicom(stored),
    }


def test_stored_window_changes_the_view_not_the_model_input(full_res_images: list[Path]) -> None:
    stored = _stored(full_res_images[0])
    twins = {k: decode_bytes(v) for k, v in _twins(stored).items()}
    base = twins["none"]
    assert base.display is None
    np.testing.assert_array_equal(base.for_display, base.pixels)
    for name in ("narrow", "shifted", "voi_lut"):
        d = twins[name]
        np.testing.assert_array_equal(d.pixels, base.pixels)  # the model's input
        assert d.display is not None and d.for_display is d.display
        assert np.abs(d.display.astype(int) - base.pixels).mean() > 5, name  # the view differs
    # the narrow window saturates much of the film on screen (what used to be refused)
    narrow = twins["narrow"].display
    assert ((narrow == 0) | (narrow == 255)).mean() > 0.3


def test_windowed_dicom_twins_get_the_same_status_and_p(full_res_images: list[Path],
                                                         model_dir: Path) -> None:
    bundle = ModelBundle.load(model_dir)
    compared = 0
    for path in full_res_images:
        results = {k: classify_bytes(f"{path.stem}-{k}.dcm", v, bundle)
                   for k, v in _twins(_stored(path)).items()}
        base = results["none"]
        for name, res in results.items():
            assert res.status == base.status, (path.name, name, res.message)
            if base.probability is not None:
                assert abs(res.probability - base.probability) <= MAX_DP, (path.name, name)
            compared += 1
    assert compared == 4 * len(full_res_images)
