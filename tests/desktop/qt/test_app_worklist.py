"""Issue 14, item 3: the worklist (pytest-qt, offscreen): DICOM demographics in hideable
columns, names elided keeping their distinct end, filter and search, batches grouped by folder
with archive, new rows scrolled into view, counts that say what they count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from bench.dicom_films import write_dx_dicom
from desktop.audit import AuditLog
from desktop.qt.table_models import DEMOGRAPHIC_HEADERS, ROW_ROLE
from desktop.settings import Settings
from tests.desktop.qt.app_helpers import BATCH_TIMEOUT_MS, new_window, save_png, xray_like

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def write_dicom_study(path: Path, stored: np.ndarray, **tags: str) -> Path:
    """A 12-bit DX DICOM with patient and study tags."""
    return write_dx_dicom(path, stored.astype(np.uint16), "MONOCHROME2", 12, **tags)


def _col(model, header: str) -> int:
    return model.HEADERS.index(header)


def test_dicom_demographics_in_hideable_columns_and_the_viewer(qtbot, tmp_path,
                                                                full_res_images):
    gray = xray_like(full_res_images, 256)
    dcm = write_dicom_study(tmp_path / "ward" / "film.dcm", gray.astype(np.uint16) * 16,
                            PatientName="Doe^Jane", PatientID="MRN-0042",
                            StudyDate="20240131", ViewPosition="PA")
    (tmp_path / "ward" / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\1" * 40)
    w = new_window(qtbot, [tmp_path / "ward"])
    row = w.results.row_at(w.results.row_of(str(dcm)))
    assert row.demographics == ("Doe, Jane", "MRN-0042", "2024-01-31", "PA")
    i = w.results.row_of(str(dcm))
    got = {h: w.results.index(i, _col(w.results, h)).data() for h in DEMOGRAPHIC_HEADERS}
    assert got == {"Patient": "Doe, Jane", "Patient ID": "MRN-0042",
                   "Study date": "2024-01-31", "View": "PA"}
    # search finds the film by patient ID
    w.results_filter.search.setText("mrn-0042")
    assert w.results_proxy.rowCount() == 1
    w.results_filter.search.clear()
    # default: patient shown (once a DICOM file is open), ID hidden; a header toggle shows it
    # and is remembered
    c_id = _col(w.results, "Patient ID")
    assert not w.table.isColumnHidden(_col(w.results, "Patient"))
    assert w.table.isColumnHidden(c_id)
    w.table.toggle_column(c_id, True)
    assert not w.table.isColumnHidden(c_id)
    assert "Patient ID" not in Settings.load().hidden_columns
    # the viewer overlay names the patient, study date and view
    w.show_path(str(dcm))
    qtbot.waitUntil(lambda: w.shown_path == str(dcm), timeout=20_000)
    assert w.viewer.info_lines == ["Patient: Doe, Jane (ID MRN-0042)",
                                   "Study date: 2024-01-31", "View: PA"]
    w.close()
    w2 = new_window(qtbot)  # remembered; DICOM columns wait for a file that has the fields
    assert "Patient ID" not in w2.settings.hidden_columns
    assert w2.table.isColumnHidden(c_id) and w2.table.isColumnHidden(_col(w.results, "Patient"))
    with qtbot.waitSignal(w2.runner.finished, timeout=BATCH_TIMEOUT_MS):
        w2.open_paths([str(dcm)])
    assert not w2.table.isColumnHidden(c_id)


def test_long_names_keep_their_distinct_end_and_show_the_full_path(qtbot, tmp_path,
                                                                   full_res_images):
    gray = xray_like(full_res_images, 128)
    stem = "person1_bacteria_" + "x" * 60
    a = save_png(gray, (tmp_path / "s").mkdir() or tmp_path / "s" / f"{stem}_81.png")
    w = new_window(qtbot, [tmp_path / "s"])
    from PySide6.QtWidgets import QStyleOptionViewItem

    for view in (w.table, w.flagged.view):
        opt = QStyleOptionViewItem()
        view.itemDelegateForColumn(0).initStyleOption(opt, view.model().index(0, 0))
        assert opt.textElideMode == Qt.TextElideMode.ElideLeft  # "…_81.png", not "person1…"
    assert w.table.itemDelegateForColumn(2) is None  # other columns: the usual right elision
    idx = w.results.index(w.results.row_of(str(a)), 0)
    assert idx.data(Qt.ItemDataRole.ToolTipRole).startswith(str(a))
    folder_col = _col(w.results, "Folder")
    assert w.results.index(idx.row(), folder_col).data() == str(tmp_path / "s")


def _make_folder(folder: Path, gray: np.ndarray, n: int, broken: int) -> list[Path]:
    folder.mkdir(parents=True)
    out = [save_png(np.roll(gray, 5 * i, axis=0), folder / f"f{i:02d}.png") for i in range(n)]
    for k in range(broken):
        bad = folder / f"bad{k}.jpeg"
        bad.write_text("not an image")
        out.append(bad)
    return out


def test_batches_filter_search_archive_and_counts(qtbot, tmp_path, full_res_images, home):
    gray = xray_like(full_res_images, 160)
    _make_folder(tmp_path / "monday", gray, 2, 2)
    _make_folder(tmp_path / "tuesday", gray, 2, 1)
    w = new_window(qtbot, [tmp_path / "monday"])
    with qtbot.waitSignal(w.runner.finished, timeout=BATCH_TIMEOUT_MS):
        w.open_paths([str(tmp_path / "tuesday")])
    # counts say what they count: this batch vs the worklist
    text = w.count_label.text()
    batch2 = [r for r in w.results.rows() if r.batch == 2]
    assert len(batch2) == 3
    assert f"this batch 3 of 3 classified, {sum(r.flagged for r in batch2)} flagged" in text
    pending = sum(e.review_state == "pending" for e in w.flagged.model.entries())
    assert f"worklist: {pending} pending" in text
    # batches: numbered, labelled, filterable
    assert {r.batch for r in w.results.rows()} == {1, 2}
    assert "tuesday" in w.results.batch_labels[2]
    w.results_filter.set_choice("Latest batch")
    assert w.results_proxy.rowCount() == 3
    w.results_filter.set_choice("Could not assess")
    assert w.results_proxy.rowCount() == 3  # three broken files
    w.results_filter.set_choice("All results")
    # the flagged list groups by folder
    folders = w.flagged.folders()
    mon, tue = str(tmp_path / "monday"), str(tmp_path / "tuesday")
    assert folders[mon][0] >= 2 and folders[tue][0] >= 1
    # search and state filters
    w.flagged.filter_bar.search.setText("bad0")
    assert w.flagged.proxy.rowCount() == 2  # bad0.jpeg in both folders
    w.flagged.filter_bar.search.clear()
    # archive refused while monday has pending films
    w.flagged.folder_combo.setCurrentIndex(w.flagged.folder_combo.findData(mon))
    assert not w.flagged.archive_button.isEnabled()
    n_mon = w.flagged.proxy.rowCount()
    assert n_mon == folders[mon][1]
    for _ in range(n_mon):  # work through monday with the keyboard actions
        w.next_pending(+1)
        qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)
        w.review_current("reviewed")
    assert w.flagged.folders()[mon][0] == 0
    left = sum(e.review_state == "pending" for e in w.flagged.model.entries())
    assert w.count_label.text().endswith(f"worklist: {left} pending")  # follows the marks
    assert w.flagged.archive_button.isEnabled()
    w.flagged.archive_button.click()
    assert mon in w.flagged.archived
    w.flagged.folder_combo.setCurrentIndex(0)  # all folders
    shown = {w.flagged.proxy.index(i, 0).data(ROW_ROLE).path
             for i in range(w.flagged.proxy.rowCount())}
    assert not any(p.startswith(mon + "/") for p in shown)  # the worklist hides it
    assert "archived" in w.flagged.title.text()
    w.flagged.filter_bar.set_choice("Archived")
    assert w.flagged.proxy.rowCount() == n_mon
    w.flagged.filter_bar.set_choice("Pending")
    assert all(w.flagged.proxy.index(i, 0).data(ROW_ROLE).review_state == "pending"
               for i in range(w.flagged.proxy.rowCount()))
    w.close()
    w2 = new_window(qtbot)  # archive kept across restarts, and audited
    assert mon in w2.flagged.archived
    with AuditLog(home / "data" / "review.sqlite3") as audit:
        assert any(e.action == "archive" and e.path == mon for e in audit.all())


def test_new_batch_rows_are_scrolled_into_view(qtbot, tmp_path, full_res_images):
    gray = xray_like(full_res_images, 96)
    _make_folder(tmp_path / "big", gray, 45, 0)
    _make_folder(tmp_path / "next", gray, 2, 0)
    w = new_window(qtbot, [tmp_path / "big"])
    w.table.scrollToTop()
    with qtbot.waitSignal(w.runner.finished, timeout=BATCH_TIMEOUT_MS):
        w.open_paths([str(tmp_path / "next")])
    first_new = w.results_proxy.mapFromSource(w.results.index(45, 0))
    rect = w.table.visualRect(first_new)
    assert w.table.viewport().rect().intersects(rect)
    assert w.table.currentIndex().row() == 0  # the selection (the film shown) did not jump
