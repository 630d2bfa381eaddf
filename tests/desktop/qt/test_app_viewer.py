"""Preview, formats and the heatmap in the real window (pytest-qt, offscreen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from bench.dicom_films import write_dx_dicom
from pneumonia_core.model import ModelBundle
from pneumonia_core.pipeline import classify_file
from tests.desktop.qt.app_helpers import new_window, save_png, wait_preview, xray_like

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def write_dicom(path: Path, stored: np.ndarray, photometric: str) -> Path:
    """A minimal uncompressed 16-bit (12 stored) DX DICOM file."""
    return write_dx_dicom(path, stored.astype(np.uint16), photometric, 12,
                          PatientName="Test^Phantom")


def _select(qtbot, w, path: Path) -> None:
    src = w.results.row_of(str(path))
    assert src is not None, f"{path} not in the results"
    w.table.setCurrentIndex(w.results_proxy.mapFromSource(w.results.index(src, 0)))
    wait_preview(qtbot, w, str(path))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def test_dicom_monochrome1_is_shown_and_classified_like_its_monochrome2_twin(
        qtbot, tmp_path, full_res_images):
    gray = xray_like(full_res_images, 320)
    stored2 = gray.astype(np.uint16) * 16  # 12-bit, bright bone like a film
    stored1 = 4095 - stored2  # MONOCHROME1: the same film with inverted stored values
    folder = tmp_path / "dicom"
    folder.mkdir()
    m2 = write_dicom(folder / "mono2.dcm", stored2, "MONOCHROME2")
    m1 = write_dicom(folder / "MONO1_NO_SUFFIX", stored1, "MONOCHROME1")  # extension-less
    w = new_window(qtbot, [folder])
    rows = {Path(r.path).name: r for r in w.results.rows()}
    assert set(rows) == {"mono2.dcm", "MONO1_NO_SUFFIX"}
    r1, r2 = rows["MONO1_NO_SUFFIX"], rows["mono2.dcm"]
    assert r1.status == r2.status != "error", (r1.message, r2.message)
    if r1.status == "ok":
        assert r1.probability == pytest.approx(r2.probability, abs=0.02)
    _select(qtbot, w, m1)
    shown1 = w.viewer.displayed_pixels().copy()
    _select(qtbot, w, m2)
    shown2 = w.viewer.displayed_pixels().copy()
    assert shown1.shape == shown2.shape == gray.shape
    assert np.abs(shown1.astype(int) - shown2.astype(int)).max() <= 2
    assert _corr(shown1, gray) > 0.99  # not inverted: bone is bright as in the source
    assert w.result_panel.file_label.text() == str(m2)


def test_16bit_png_is_loaded_like_its_8bit_twin(qtbot, tmp_path, full_res_images):
    gray = xray_like(full_res_images, 300)
    p8 = save_png(gray, tmp_path / "eight.png")
    p16 = tmp_path / "sixteen.png"
    Image.fromarray(gray.astype(np.uint16) * 257).save(p16)
    with Image.open(p16) as im:
        assert im.mode.startswith("I")
    w = new_window(qtbot, [p8, p16])
    rows = {Path(r.path).name: r for r in w.results.rows()}
    assert rows["sixteen.png"].status == rows["eight.png"].status != "error"
    if rows["eight.png"].status == "ok":
        assert rows["sixteen.png"].probability == pytest.approx(rows["eight.png"].probability,
                                                                abs=0.01)
    _select(qtbot, w, p16)
    assert np.abs(w.viewer.pixels.astype(int) - gray.astype(int)).max() <= 1


def test_heatmap_overlay_toggles_and_matches_the_models_cam(qtbot, tmp_path, full_res_images,
                                                           model_dir):
    bundle = ModelBundle.load(model_dir)
    in_scope = [(p, r) for p in full_res_images
                if (r := classify_file(p, bundle, keep_cam=True)).status == "ok" and r.flagged]
    assert in_scope, "no validation X-ray is in scope and flagged (the heatmap's films)"
    path, ref = in_scope[-1]
    w = new_window(qtbot, [path])
    _select(qtbot, w, path)
    assert w.viewer.overlay_rgba is None
    qtbot.keyClick(w.table, Qt.Key.Key_H)
    assert w.heatmap_button.isChecked()
    assert w.viewer.cam is not None
    np.testing.assert_allclose(w.viewer.cam, ref.cam, rtol=0, atol=1e-6)
    overlay = w.viewer.overlay_rgba
    H, W = w.viewer.pixels.shape
    oh, ow = overlay.shape[:2]
    assert overlay.shape[2] == 4 and abs(oh / ow - H / W) < 0.01  # covers the whole image
    # the hottest cell of the CAM is the most opaque region of the overlay
    h, w_ = ref.cam.shape
    iy, ix = np.unravel_index(np.argmax(ref.cam), ref.cam.shape)
    cy, cx = int((iy + 0.5) * oh / h), int((ix + 0.5) * ow / w_)
    assert overlay[cy, cx, 3] >= np.percentile(overlay[..., 3], 95)

    def shown_colour() -> float:  # red-blue spread of the rendered viewer: 0 for grey
        img = w.viewer.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        a = np.frombuffer(img.constBits(), np.uint8).reshape(
            img.height(), img.bytesPerLine())[:, : img.width() * 3].reshape(
            img.height(), img.width(), 3).astype(int)
        return float(np.abs(a[..., 0] - a[..., 2]).mean())

    w.opacity_slider.setValue(20)
    faint = shown_colour()
    w.opacity_slider.setValue(100)
    strong = shown_colour()
    assert strong > faint > 0.5
    assert w.settings.heatmap_opacity == pytest.approx(1.0)
    assert w.viewer.heatmap_opacity == pytest.approx(1.0)
    w.heatmap_button.click()
    assert not w.heatmap_button.isChecked() and w.viewer.overlay_rgba is None


def test_keyboard_navigation_and_viewer_keys(qtbot, tmp_path, full_res_images):
    folder = tmp_path / "k"
    folder.mkdir()
    gray = xray_like(full_res_images, 256)
    paths = [save_png(np.roll(gray, 7 * i, axis=0), folder / f"k{i}.png") for i in range(3)]
    w = new_window(qtbot, [folder])
    w.table.setFocus()
    _select(qtbot, w, paths[0])
    qtbot.keyClick(w.table, Qt.Key.Key_Right)
    wait_preview(qtbot, w, str(paths[1]))
    qtbot.keyClick(w.table, Qt.Key.Key_Down)  # the table's own arrows work too
    wait_preview(qtbot, w, str(paths[2]))
    qtbot.keyClick(w.table, Qt.Key.Key_Left)
    wait_preview(qtbot, w, str(paths[1]))
    v = w.viewer
    fit = v.zoom
    qtbot.keyClick(w.table, Qt.Key.Key_Plus)
    assert v.zoom == pytest.approx(fit * 1.25)
    qtbot.keyClick(w.table, Qt.Key.Key_Minus)
    qtbot.keyClick(w.table, Qt.Key.Key_Minus)
    assert v.zoom < fit
    qtbot.keyClick(w.table, Qt.Key.Key_Equal)
    assert v.zoom == pytest.approx(fit) and v.fit_mode
    before = v.displayed_pixels().copy()
    qtbot.keyClick(w.table, Qt.Key.Key_I)
    assert v.inverted
    np.testing.assert_array_equal(v.displayed_pixels(), 255 - before)
    qtbot.keyClick(w.table, Qt.Key.Key_2)
    assert (v.centre, v.width_) != (127.5, 255.0)
    qtbot.keyClick(w.table, Qt.Key.Key_0)
    assert not v.inverted and (v.centre, v.width_) == (127.5, 255.0)
    np.testing.assert_array_equal(v.displayed_pixels(), before)
    v.pan_by(30, -10)
    assert not v.fit_mode


def test_model_failure_leaves_a_usable_viewer(qtbot, tmp_path, monkeypatch, full_res_images,
                                             model_dir):
    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "metadata.json").write_bytes((model_dir / "metadata.json").read_bytes())
    for kept in model_dir.glob("*.npy"):  # the guard's statistics the metadata names
        (bad / kept.name).write_bytes(kept.read_bytes())
    data = bytearray((model_dir / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF  # tampered model: SHA-256 mismatch
    (bad / "model.tflite").write_bytes(bytes(data))
    monkeypatch.setenv("PNEUMONIA_XRAY_MODEL_DIR", str(bad))
    path = full_res_images[0]
    w = new_window(qtbot, [path])
    assert w.bundle is None
    assert w.banner.isVisible() and "integrity check" in w.banner.text()
    assert not w.heatmap_button.isEnabled()
    row = w.results.rows()[0]
    assert row.status == "error" and "No model" in row.message
    _select(qtbot, w, path)
    assert w.viewer.pixels is not None and w.viewer.pixels.ndim == 2
