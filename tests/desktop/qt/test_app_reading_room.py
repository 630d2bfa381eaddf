"""Issue 14, item 6: a window that fits a reading room (pytest-qt, offscreen): readable
overlay text, window/level in DICOM units, a visible choice whether W/L carries over, a dark
theme, and the Esc / notice-order / export-folder bugs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QFileDialog

from desktop.qt import app as desktop_app
from desktop.qt import export_paths
from desktop.qt.viewer import ImageViewer
from desktop.settings import Settings
from tests.desktop.qt.app_helpers import (
    BATCH_TIMEOUT_MS,
    copy_images,
    new_window,
    save_png,
    xray_like,
)
from tests.desktop.qt.test_app_viewer import write_dicom

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def test_overlay_text_is_boxed_and_readable_over_a_white_film(qtbot):
    v = ImageViewer()
    qtbot.addWidget(v)
    v.resize(400, 300)
    v.show()
    v.set_image(np.full((300, 400), 255, np.uint8))
    shot = v.grab().toImage()
    # bottom-left text box: dark box pixels and white glyph pixels side by side
    px = [shot.pixelColor(x, y).lightness() for x in range(8, 200) for y in range(268, 292)]
    assert min(px) < 100 and max(px) > 240
    assert sum(p < 100 for p in px) > 0.3 * len(px)  # mostly box, not white film


def test_window_level_in_dicom_units_and_demographics_overlay(qtbot, tmp_path, full_res_images):
    gray = xray_like(full_res_images, 256)
    stored = gray.astype(np.uint16) * 16  # 12-bit values 0..4080
    (tmp_path / "d").mkdir()
    path = write_dicom(tmp_path / "d" / "film.dcm", stored, "MONOCHROME2")
    w = new_window(qtbot, [path.parent])
    w.show_path(str(path))
    qtbot.waitUntil(lambda: w.shown_path == str(path), timeout=20_000)
    v = w.viewer
    lo, hi = v.value_range
    assert lo == pytest.approx(float(stored.min())) and hi == pytest.approx(float(stored.max()))
    width, level, units = v.window_in_units()
    assert width == pytest.approx(hi - lo) and level == pytest.approx((lo + hi) / 2, abs=1)
    assert "stored values" in units and f"W {hi - lo:.0f}" in v.status_text()
    assert v.info_lines == ["Patient: Test, Phantom"]
    # a JPEG/PNG film keeps display units
    png = save_png(gray, tmp_path / "plain.png")
    w.open_paths([str(png)])
    qtbot.waitUntil(lambda: w.results.row_of(str(png)) is not None, timeout=BATCH_TIMEOUT_MS)
    w.show_path(str(png))
    qtbot.waitUntil(lambda: w.shown_path == str(png), timeout=20_000)
    assert v.value_range is None and v.window_in_units() == (255.0, 127.5, "")
    assert v.info_lines == []


def test_window_level_resets_per_film_unless_kept_and_the_choice_is_remembered(
        qtbot, tmp_path, full_res_images):
    folder = tmp_path / "k"
    folder.mkdir()
    gray = xray_like(full_res_images, 200)
    paths = [save_png(np.roll(gray, 9 * i, axis=1), folder / f"k{i}.png") for i in range(3)]
    w = new_window(qtbot, [folder])
    v = w.viewer
    assert not w.keep_display_check.isChecked()  # default: each film starts reset
    for i, target in ((0, paths[0]), (1, paths[1])):
        w.show_path(str(target))
        qtbot.waitUntil(lambda t=target: w.shown_path == str(t), timeout=20_000)
        if i == 0:
            v.apply_preset(3)
            v.toggle_invert()
    assert v.is_default_display()  # film 2 opened reset
    v.apply_preset(3)
    v.toggle_invert()
    w.keep_display_check.setChecked(True)
    w.show_path(str(paths[2]))
    qtbot.waitUntil(lambda: w.shown_path == str(paths[2]), timeout=20_000)
    assert v.inverted and not v.is_default_display()
    assert "kept from previous film" in v.status_text()
    assert Settings.load().keep_display_across_films
    w.close()
    w2 = new_window(qtbot)
    assert w2.keep_display_check.isChecked() and w2.viewer.keep_display


def test_dark_theme_is_an_option_remembered_in_settings(qtbot):
    app = QApplication.instance()
    w = new_window(qtbot)
    light = app.palette().color(QPalette.ColorRole.Base).lightness()
    try:
        w.dark_action.setChecked(True)
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 60
        assert app.palette().color(QPalette.ColorRole.Base).lightness() < 60
        assert Settings.load().dark_theme
        w.close()
        w2 = new_window(qtbot)
        assert w2.dark_action.isChecked()
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 60
        w2.dark_action.setChecked(False)
        assert app.palette().color(QPalette.ColorRole.Base).lightness() == light
        assert not Settings.load().dark_theme
    finally:
        from desktop.qt import table_models, theme

        theme.apply_theme(False)
        table_models.set_dark(False)


def test_esc_after_a_finished_batch_keeps_the_summary(qtbot, tmp_path, full_res_images):
    w = new_window(qtbot, [copy_images(full_res_images[:2], tmp_path / "e")])
    summary = w.count_label.text()
    assert summary.startswith("Done")
    w.cancel_batch()  # what Esc triggers
    assert w.count_label.text() == summary
    assert "Cancelling" not in w.count_label.text()


def test_nothing_is_classified_before_the_intended_use_notice_is_confirmed(
        qtbot, tmp_path, full_res_images):
    folder = copy_images(full_res_images[:2], tmp_path / "n")
    w = desktop_app.create_window(show_first_start=True)
    qtbot.addWidget(w)
    w.show()
    w.open_paths([str(folder)])  # as the command line / a drop does, before confirming
    qtbot.wait(300)
    assert w.results.rowCount() == 0 and not w.runner.running
    assert "intended-use notice" in w.count_label.text()
    d = w.first_start
    assert d.isVisible()
    d.confirm.setChecked(True)
    with qtbot.waitSignal(w.runner.finished, timeout=BATCH_TIMEOUT_MS):
        d.ok_button.click()
    assert w.results.rowCount() == 2


def test_export_dialog_opens_in_the_last_export_folder(qtbot, tmp_path, monkeypatch):
    w = new_window(qtbot)
    asked: list[str] = []
    target = tmp_path / "exports"
    target.mkdir()

    def fake(parent, caption, directory, filt):  # noqa: ANN001
        asked.append(directory)
        return str(target / "mine.csv"), filt

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))
    w.export_flagged_dialog()
    # not the working directory (nor the image folder: tests/desktop/qt/test_app_exports.py)
    assert Path(asked[0]).parent == Path(export_paths.documents_folder())
    w.export_flagged_dialog()
    assert Path(asked[1]).parent == target
    assert (target / "mine.csv").exists()


def test_a_long_decoding_error_never_overprints_the_bar(qtbot):
    from desktop.jobs import ResultRow

    w = new_window(qtbot)
    w.resize(1000, 600)
    raw = "Cannot decode DICOM pixel data: ValueError: " + "0x00ff" * 400  # no spaces
    w.result_panel.show_row(ResultRow("/d/x.dcm", "error", None, "", raw, "x", 0.35, True),
                            w.point)
    qtbot.wait(50)
    bar, msg = w.result_panel.bar.geometry(), w.result_panel.message_label.geometry()
    assert not bar.intersects(msg)
    assert msg.top() >= bar.bottom()
    assert w.result_panel.message_label.toolTip() == raw
