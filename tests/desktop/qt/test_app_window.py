"""The main window end to end (pytest-qt, offscreen): open a folder, results and flags,
cancel, reviews across restarts, CSV export, broken files."""

from __future__ import annotations

import csv
import io
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from desktop.audit import AuditLog
from desktop.presentation import format_threshold
from desktop.review_store import ReviewStore
from pneumonia_core.imageio import load_image
from pneumonia_core.model import ModelBundle
from tests.desktop.qt.app_helpers import copy_images, new_window, save_png, xray_like

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


@pytest.fixture(scope="module")
def bundle(model_dir) -> ModelBundle:
    return ModelBundle.load(model_dir)


def test_open_folder_results_and_flags_match_the_model(qtbot, tmp_path, full_res_images,
                                                        bundle, home):
    folder = copy_images(full_res_images, tmp_path / "study")
    w = new_window(qtbot, [folder])
    rows = {Path(r.path).name: r for r in w.results.rows()}
    assert len(rows) == len(full_res_images)
    thr = bundle.metadata.threshold_value
    assert w.threshold == pytest.approx(thr)
    expected_flags = set()
    for p in full_res_images:
        row = rows[p.name]
        if row.status == "ok":
            prob = bundle.predict(load_image(p, bundle.input_size)).probability
            assert row.probability == pytest.approx(prob, abs=1e-6)
            positive = prob >= thr
            assert row.prediction == bundle.metadata.labels[int(positive)]
            if positive:
                expected_flags.add(row.path)
        else:
            assert row.message  # out of scope / error says why
            expected_flags.add(row.path)
    flagged_paths = {e.path for e in w.flagged.model.entries()}
    assert flagged_paths == expected_flags
    # the list is most likely first, as the proxy shows it
    shown = [w.flagged.proxy.index(i, 0).data(Qt.ItemDataRole.UserRole + 2)
             for i in range(w.flagged.proxy.rowCount())]
    probs = [e.probability for e in shown if e.probability is not None]
    assert probs == sorted(probs, reverse=True)
    # persisted and audited
    with ReviewStore(home / "data" / "review.sqlite3") as store:
        assert {e.path for e in store.entries()} == expected_flags
    with AuditLog(home / "data" / "review.sqlite3") as audit:
        events = [e for e in audit.all() if e.action == "classify"]
        assert len(events) == len(full_res_images)
        assert all(e.model_sha256 == bundle.metadata.sha256 for e in events)
    assert w.progress.value() == len(full_res_images)
    assert f"{len(full_res_images)} of {len(full_res_images)}" in w.count_label.text()


def test_cancel_mid_batch(qtbot, tmp_path, full_res_images):
    folder = tmp_path / "many"
    folder.mkdir()
    base = xray_like(full_res_images, 128)
    for i in range(400):
        save_png(np.roll(base, i, axis=1), folder / f"img_{i:04d}.bmp")
    w = new_window(qtbot, [folder], wait=False)
    qtbot.waitUntil(lambda: w.results.rowCount() > 0, timeout=30_000)
    assert w.cancel_button.isEnabled()
    with qtbot.waitSignal(w.runner.finished, timeout=30_000) as sig:
        w.cancel_button.click()
    assert sig.args == [True]
    n = w.results.rowCount()
    assert 0 < n < 400
    assert w.runner.total == 400 and w.runner.done == n
    assert "Cancelled" in w.count_label.text()
    assert not w.cancel_button.isEnabled()
    # clearing during a new batch drops late results; the flagged list stays
    n_flags = w.flagged.model.rowCount()
    w.open_paths([str(folder)])
    qtbot.waitUntil(lambda: w.runner.done > n, timeout=30_000)
    with qtbot.waitSignal(w.runner.finished, timeout=30_000):
        w.clear_results()
    qtbot.wait(150)
    assert w.results.rowCount() == 0
    assert w.flagged.model.rowCount() >= n_flags


def test_broken_file_shows_error_row_and_the_rest_go_on(qtbot, tmp_path, full_res_images):
    folder = copy_images(full_res_images[:2], tmp_path / "mixed")
    (folder / "notes.jpeg").write_text("this is not an image")
    data = full_res_images[0].read_bytes()
    (folder / "truncated.jpeg").write_bytes(data[: len(data) // 3])
    (folder / "empty.png").write_bytes(b"")
    w = new_window(qtbot, [folder])
    rows = {Path(r.path).name: r for r in w.results.rows()}
    assert len(rows) == 5
    for bad in ("notes.jpeg", "empty.png"):
        assert rows[bad].status == "error" and rows[bad].message
        assert rows[bad].flagged
    assert "Empty file" in rows["empty.png"].message
    assert rows["truncated.jpeg"].status in ("error", "ok", "out_of_scope")
    good = [rows[p.name] for p in full_res_images[:2]]
    assert all(r.status != "error" for r in good)
    flagged = {Path(e.path).name for e in w.flagged.model.entries()}
    assert {"notes.jpeg", "empty.png"} <= flagged
    # selecting the broken row shows its error instead of an image
    src = w.results.row_of(str(folder / "notes.jpeg"))
    w.table.setCurrentIndex(w.results_proxy.mapFromSource(w.results.index(src, 0)))
    qtbot.waitUntil(lambda: w.viewer.pixels is None and "Cannot show" in w.viewer._message,
                    timeout=10_000)
    assert "could not read" in w.result_panel.prediction_label.text()


def _mark(qtbot, w, proxy_row: int, button, note: str):
    w.flagged.select_row(proxy_row)
    entry = w.flagged.current_entry()
    qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)  # actions wait for the film
    w.flagged.note_edit.setText(note)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    return entry


def test_review_marks_survive_restart_and_csv_export(qtbot, tmp_path, full_res_images, home):
    folder = copy_images(full_res_images[:3], tmp_path / "s")
    (folder / "bad.jpeg").write_text("nope")  # guarantees at least one flagged entry
    (folder / "bad2.png").write_bytes(b"\x89PNG broken")
    w = new_window(qtbot, [folder])
    n_flagged = w.flagged.model.rowCount()
    assert n_flagged >= 2
    reviewed = _mark(qtbot, w, 0, w.flagged.reviewed_button, "seen, consolidation")
    dismissed = _mark(qtbot, w, 1, w.flagged.dismiss_button, "corrupt upload")
    assert f"{n_flagged - 2} pending of {n_flagged}" in w.flagged.title.text()
    out = tmp_path / "flagged.csv"
    assert w.export_flagged(out) == n_flagged
    w.close()

    w2 = new_window(qtbot)  # a restart: new window, same home
    entries = {e.key: e for e in w2.flagged.model.entries()}
    assert len(entries) == n_flagged
    assert entries[reviewed.key].review_state == "reviewed"
    assert entries[reviewed.key].note == "seen, consolidation"
    assert entries[dismissed.key].review_state == "dismissed"
    assert entries[dismissed.key].note == "corrupt upload"

    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert len(rows) == n_flagged
    by_path = {r["path"]: r for r in rows}
    assert by_path[reviewed.path]["review_state"] == "reviewed"
    assert by_path[reviewed.path]["note"] == "seen, consolidation"
    assert by_path[str(folder / "bad.jpeg")]["status"] == "error"
    assert by_path[str(folder / "bad.jpeg")]["probability"] == ""
    assert all(r["model_sha256"] == w2.meta.sha256 for r in rows)
    probs = [float(r["probability"]) for r in rows if r["probability"]]
    assert probs == sorted(probs, reverse=True)
    with AuditLog(home / "data" / "review.sqlite3") as audit:
        actions = [(e.action, e.note) for e in audit.all()]
    assert ("review:reviewed", "seen, consolidation") in actions
    assert ("review:dismissed", "corrupt upload") in actions
    assert any(a == "export" for a, _ in actions)


def test_threshold_override_reflags_and_persists(qtbot, tmp_path, full_res_images, home):
    folder = copy_images(full_res_images[:6], tmp_path / "t")
    w = new_window(qtbot, [folder])
    ok = [r for r in w.results.rows() if r.status == "ok"]
    assert ok, "expected X-rays in scope"
    low = min(r.probability for r in ok) * 0.999  # everything in scope becomes positive
    with qtbot.waitSignal(w.flagged.model.modelReset, timeout=10_000):
        w.apply_threshold(low)
    assert all(r.flagged and r.prediction == w.meta.labels[1] for r in ok)
    assert {r.path for r in ok} <= {e.path for e in w.flagged.model.entries()}
    assert format_threshold(low) in w.result_panel.model_label.text()
    w.close()
    w2 = new_window(qtbot)
    assert w2.threshold == pytest.approx(low)
    assert "your setting" in w2.result_panel.model_label.text()
    with AuditLog(home / "data" / "review.sqlite3") as audit:
        assert any(e.action == "threshold" and e.threshold == pytest.approx(low)
                   for e in audit.all())


def test_drag_and_drop_opens_files_and_folders(qtbot, tmp_path, full_res_images):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    folder = copy_images(full_res_images[:2], tmp_path / "dropped")
    single = copy_images(full_res_images[2:3], tmp_path / "single")
    single_file = next(single.rglob("*.jpeg"))
    w = new_window(qtbot)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder)), QUrl.fromLocalFile(str(single_file))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(w.runner.finished, timeout=60_000):
        w.dropEvent(event)
    assert {Path(r.path).name for r in w.results.rows()} == {
        p.name for p in full_res_images[:3]}


def test_run_gui_opens_command_line_paths(qtbot, tmp_path, full_res_images, monkeypatch):
    from PySide6.QtWidgets import QApplication

    from desktop import logging_setup
    from desktop.qt import app as app_module

    made = []
    real_create = app_module.create_window

    def capture(*args, **kwargs):
        w = real_create(*args, show_first_start=False)
        qtbot.addWidget(w)
        made.append(w)
        return w

    def fake_exec(self=None) -> int:  # the event loop, until the batch is done
        qtbot.waitUntil(lambda: made and not made[0].runner.running
                        and made[0].results.rowCount() == 2, timeout=60_000)
        return 0

    monkeypatch.setattr(app_module, "create_window", capture)
    monkeypatch.setattr(QApplication, "exec", fake_exec)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    try:
        rc = app_module.run_gui([str(p) for p in full_res_images[:2]])
    finally:
        logging_setup.shutdown_logging()
    assert rc == 0
    assert {Path(r.path).name for r in made[0].results.rows()} == {
        p.name for p in full_res_images[:2]}


def test_window_classifies_on_two_threads_off_the_gui_thread_in_input_order(
        qtbot, tmp_path, full_res_images, monkeypatch):
    import time

    from desktop.qt import batch_runner
    from pneumonia_core import pipeline
    from pneumonia_core.files import iter_image_files

    folder = copy_images(full_res_images, tmp_path / "study")
    seen: list[tuple[int, int]] = []
    real = pipeline.classify_file

    def recording(path, model, point, keep_cam=False):
        seen.append((threading.get_ident(), id(model)))
        time.sleep(0.005)  # both threads surely take files
        return real(path, model, point, keep_cam=keep_cam)

    monkeypatch.setattr(pipeline, "classify_file", recording)
    w = new_window(qtbot, [folder])
    assert [r.path for r in w.results.rows()] == list(iter_image_files([str(folder)]))
    assert all(r.status in ("ok", "out_of_scope") for r in w.results.rows())
    threads = {t for t, _ in seen}
    assert len(threads) == batch_runner.CLASSIFY_WORKERS
    assert threading.get_ident() not in threads
    assert len({m for _, m in seen}) == len(threads)  # one model clone per thread
