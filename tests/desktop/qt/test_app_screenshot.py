"""The screenshot script starts the real window under Xvfb and writes the four images."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def test_screenshot_script_under_xvfb(tmp_path, full_res_images):
    images = tmp_path / "val"
    images.mkdir()
    # NORMAL and PNEUMONIA films (the list is sorted by class), so that the film shown, the
    # most probable, is flagged and gets its heatmap whatever the model's operating point.
    for p in full_res_images[:3] + full_res_images[-3:]:
        (images / p.name).write_bytes(p.read_bytes())
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshot.py"), str(tmp_path / "shots"),
         "--images", str(images), "--size", "1200x800"],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    app = tmp_path / "shots" / "app.png"
    heat = tmp_path / "shots" / "heatmap.png"
    for p in (app, heat):
        assert p.stat().st_size < 300_000
    a = np.asarray(Image.open(app).convert("RGB")).astype(int)
    h = np.asarray(Image.open(heat).convert("RGB")).astype(int)
    assert a.shape == h.shape == (800, 1200, 3)
    # The preview (the window's middle) shows a grey X-ray; the heatmap adds colour there.
    mid = (slice(200, 600), slice(450, 750))
    grey = a[mid]
    assert grey.std() > 20  # an image, not an empty viewer
    assert np.abs(grey[..., 0] - grey[..., 2]).mean() < 3  # grey
    # coloured overlay: a clear share of the preview is tinted, none of it without the heatmap
    # (how much depends on where the model looks and on the black margins in this crop; 0.20
    # with 1.2.0, whose map was more concentrated than 1.1.0's)
    tinted = np.abs(h[mid][..., 0] - h[mid][..., 2]) > 15
    assert tinted.mean() > 0.1 and not (np.abs(grey[..., 0] - grey[..., 2]) > 15).any()
    assert "flagged" in proc.stdout
    # The DICOM film's overlay names the (made-up) patient; the dark theme has dark panels.
    dicom = np.asarray(Image.open(tmp_path / "shots" / "dicom.png").convert("L")).astype(int)
    dark = np.asarray(Image.open(tmp_path / "shots" / "dark.png").convert("L")).astype(int)
    light = a.mean(axis=2)
    assert dicom.shape == dark.shape == (800, 1200)
    right = (slice(300, 700), slice(900, 1200))  # the worklist panel
    assert dark[right].mean() < 90 < light[right].mean()
    overlay_box = dicom[60:110, 440:600]  # top-left of the viewer: the boxed patient text
    assert (overlay_box > 200).mean() > 0.03 and (overlay_box < 40).mean() > 0.3
