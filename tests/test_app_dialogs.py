"""First-start notice, About, audit viewer, and the error dialog of the exception hook."""

from __future__ import annotations

import csv
import io
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop import logging_setup, menus
from tests.app_helpers import new_window

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def test_first_start_notice_until_acknowledged(qtbot):
    w = new_window(qtbot, first_start=True)
    d = w.first_start
    assert d.isVisible()
    assert not d.ok_button.isEnabled()  # must tick the box first
    d.confirm.setChecked(True)
    d.ok_button.click()
    assert not d.isVisible()
    assert w.settings.first_start_acknowledged
    w.close()
    w2 = new_window(qtbot, first_start=True)
    assert not hasattr(w2, "first_start")  # not shown again
    assert menus.first_start_dialog(w2, force=True).isVisible()  # Help menu still shows it


def test_intended_use_visible_in_window_and_about(qtbot):
    w = new_window(qtbot)
    use = w.meta.intended_use
    assert w.intended_use_label.isVisible() and use in w.intended_use_label.text()
    about = menus.about_dialog(w)
    text = about.text.toPlainText()
    assert use in text
    assert w.meta.limitations[0] in text
    assert w.meta.sha256 in text and w.meta.version in text
    assert w.meta.sha256[:12] in w.result_panel.model_label.text()
    assert w.meta.name in w.result_panel.model_label.text()


def test_audit_viewer_lists_and_exports(qtbot, tmp_path, full_res_images):
    w = new_window(qtbot, [full_res_images[0], tmp_path / "missing.png"])
    d = menus.audit_dialog(w)
    events = d.model.events
    assert [e.action for e in events] == ["classify", "classify"]
    assert {Path(e.path).name for e in events} == {full_res_images[0].name, "missing.png"}
    missing = next(e for e in events if e.path.endswith("missing.png"))
    assert missing.decision == "error" and "not found" in missing.note.lower()
    out = tmp_path / "audit.csv"
    assert d.export_to(out) == 2
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert {r["action"] for r in rows} == {"classify"}
    assert all(r["model_sha256"] == w.meta.sha256 for r in rows)


def test_uncaught_exception_shows_a_dialog_and_the_window_stays(qtbot, monkeypatch, home):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    w = new_window(qtbot)
    logging_setup.setup_logging()
    logging_setup.install_excepthook()
    try:
        try:
            raise ValueError("broken slot")
        except ValueError:
            logging_setup.handle_exception(*sys.exc_info())
        boxes = [b for b in QApplication.topLevelWidgets()
                 if isinstance(b, QMessageBox) and b.isVisible()]
        assert any("broken slot" in b.text() for b in boxes)
        assert w.isVisible()
        for b in boxes:
            b.close()
    finally:
        logging_setup.shutdown_logging()
    assert "broken slot" in (home / "log" / "pneumonia-xray.log").read_text()


def test_unwritable_data_folder_falls_back_with_a_banner(qtbot, tmp_path, monkeypatch,
                                                        full_res_images):
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the home folder should be")
    monkeypatch.setenv("PNEUMONIA_XRAY_HOME", str(blocker))
    w = new_window(qtbot, [full_res_images[0]])
    assert w.banner.isVisible() and "this session only" in w.banner.text()
    assert w.results.rowCount() == 1 and w.results.rows()[0].status != "error"
