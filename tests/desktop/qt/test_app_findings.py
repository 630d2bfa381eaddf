"""Issue 25, items 2-4 in the window (pytest-qt, offscreen): the recorded-finding flow end to
end by keyboard (a model-NORMAL film marked pneumonia: worklist, audit, export, report, and a
label ``calibrate --from-reviews`` uses), the performance report dialog (HTML and PDF), and
Tools > Calibrate… (explains the labels; runs off the GUI thread with progress)."""

from __future__ import annotations

import csv
import io

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest

from desktop import calibrate, report
from desktop.audit import AuditLog
from desktop.calibrate_reviews import collect
from desktop.qt.table_models import ROW_ROLE
from pneumonia_core.files import display_path
from tests.desktop.qt.app_helpers import copy_images, new_window, wait_preview

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def action(w, text: str) -> QAction:
    return next(a for a in w.findChildren(QAction) if a.text() == text)


@pytest.fixture
def window(qtbot, tmp_path, full_res_images):
    """Four films classified, then a threshold so high that the model calls them NORMAL."""
    w = new_window(qtbot, [copy_images(full_res_images[:4], tmp_path / "study")])
    with qtbot.waitSignal(w.review_synced, timeout=20_000):
        w.apply_threshold(0.99999)
    return w


def select_by_keyboard(qtbot, w, target: str) -> None:
    """Walk the results table with the Down key from the top to ``target``'s row."""
    w.table.setFocus()
    QTest.keyClick(w.table, Qt.Key.Key_Home)
    for _ in range(w.results_proxy.rowCount()):
        if w.table.currentIndex().data(ROW_ROLE).path == target:
            break
        QTest.keyClick(w.table, Qt.Key.Key_Down)
    assert w.table.currentIndex().data(ROW_ROLE).path == target
    wait_preview(qtbot, w, target)


def test_a_model_normal_film_marked_pneumonia_by_keyboard_end_to_end(qtbot, window, tmp_path):
    w = window
    normal = next(r for r in w.session.results.rows if r.status == "ok" and not r.flagged)
    shown = display_path(normal.path)
    assert all(e.path != shown for e in w.flagged.model.entries())  # not on the worklist
    select_by_keyboard(qtbot, w, normal.path)
    QTest.keyClick(w.table, Qt.Key.Key_P)  # Review > Finding: pneumonia
    # on the worklist, as a reader finding
    entry = next(e for e in w.flagged.model.entries() if e.path == shown)
    assert entry.origin == "reader" and entry.finding == "pneumonia"
    row = w.flagged.model.row_of(entry.key)
    text = w.flagged.model.index(row, 2).data()
    assert "reader: pneumonia" in text and "model ○ NORMAL" in text  # the model's own call
    assert "on the worklist as a reader finding" in w.statusBar().currentMessage()
    # in the audit, with the reviewer
    with AuditLog(w.review_db) as audit:
        [event] = [e for e in audit.all() if e.action == "finding:pneumonia"]
    assert event.path == shown and event.user == w.reviewer and event.user
    assert event.details["model_flagged"] is False
    # in the export
    w.export_flagged(tmp_path / "flagged.csv")
    with open(tmp_path / "flagged.csv", encoding="utf-8") as fh:
        exported = {r["path"]: r for r in csv.DictReader(fh)}
    assert exported[shown]["finding"] == "pneumonia" and exported[shown]["origin"] == "reader"
    assert exported[shown]["finding_reviewer"] == w.reviewer
    # in the report: a pneumonia the model missed
    r = report.build(w.review_db)
    assert (r.tp, r.fn, r.sensitivity.n) == (0, 1, 1)
    assert "The model missed 1 film(s) a reader found pneumonia" in report.text(r)
    # as a label calibrate --from-reviews uses (one film: refused as too few, nothing written)
    items, _ignored, _sha = collect(w.review_db)
    assert items == [(normal.path, 1)]
    out, err = io.StringIO(), io.StringIO()
    code = calibrate.main(["--from-reviews", "--db", str(w.review_db), "--dry-run"], out, err)
    assert "1 labelled film(s)" in err.getvalue() and "(0 NORMAL, 1 PNEUMONIA)" in err.getvalue()
    assert code == calibrate.EXIT_REFUSED


def test_no_pneumonia_with_a_note_by_the_dialog_keeps_the_film_off_the_worklist(qtbot, window):
    w = window
    normal = next(r for r in w.session.results.rows if r.status == "ok" and not r.flagged)
    select_by_keyboard(qtbot, w, normal.path)
    before = len(w.flagged.model.entries())
    QTest.keyClick(w.table, Qt.Key.Key_F)
    box = w.finding_box
    qtbot.waitUntil(box.isVisible)
    next(b for b in box.group.buttons() if b.property("finding") == "no_pneumonia").click()
    box.note.setText("clear lungs")
    box.accept()
    found = w.session.finding_of(normal)
    assert found.finding == "no_pneumonia" and found.note == "clear lungs"
    assert len(w.flagged.model.entries()) == before


def test_a_finding_needs_a_film_on_screen(qtbot, tmp_path):
    w = new_window(qtbot)
    action(w, "Finding: pneumonia (film on screen)").trigger()
    assert "No film on screen" in w.statusBar().currentMessage()
    with AuditLog(w.review_db) as audit:
        assert not [e for e in audit.all() if e.action.startswith("finding:")]


def test_performance_report_dialog_shows_and_saves_html_and_pdf(qtbot, window, tmp_path):
    w = window
    normal = next(r for r in w.session.results.rows if r.status == "ok" and not r.flagged)
    select_by_keyboard(qtbot, w, normal.path)
    QTest.keyClick(w.table, Qt.Key.Key_P)
    action(w, "Performance report…").trigger()
    d = w.performance_report
    qtbot.waitUntil(lambda: d.report is not None, timeout=20_000)
    text = d.view.toPlainText()
    assert "Sensitivity (films a reader found pneumonia that the model flagged)" in text
    assert "0.0% (0 of 1" in text
    assert d.save_html(tmp_path / "r.html") and d.save_pdf(tmp_path / "r.pdf")
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    pdf = (tmp_path / "r.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000  # text and the two plots
    with AuditLog(w.review_db) as audit:
        assert sum(e.action == "export" for e in audit.all()) == 2


def test_calibrate_dialog_explains_the_labels_and_runs_off_the_gui_thread(qtbot, window):
    w = window
    for r in w.session.results.rows[:2]:
        if r.status == "ok":
            w.session.record_finding(r, "pneumonia")
    action(w, "Calibrate…").trigger()
    d = w.calibrate_box
    help_text = d.help.text()
    for needle in ("NORMAL/", "PNEUMONIA/", "path,label", "Reader findings", "key P",
                   "not assessable"):
        assert needle in help_text
    next(b for b in d.kind.buttons() if b.property("kind") == "findings").click()
    assert not d.source.isEnabled()
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    d.start(force=False)
    assert d.running  # returned at once: the fit runs in a worker
    qtbot.waitUntil(lambda: not d.running, timeout=60_000)
    timer.stop()
    assert ticks  # the event loop kept running during the fit
    log = d.log_view.toPlainText()
    assert "classified 2/2" in log and d.progress.value() == d.progress.maximum() == 2
    assert d.code == calibrate.EXIT_REFUSED and "only one class" in log
    assert "No profile was written" in log and not d.import_button.isEnabled()
