"""The window and its data file: two windows on one list, storage faults shown with their
cause, a batch that cannot save stops as "Stopped", a read-only data file shows the saved list
read-only (a full disk or a missing folder keeps a session copy), a tampered audit trail is
announced, ``--model-dir``/``--threshold`` are honoured, non-UTF-8 names reopen."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from desktop import sqlite_util
from desktop.audit import AuditEvent, AuditLog
from desktop.qt import app as app_module
from desktop.review_store import FlagEntry, ReviewStore, ReviewStoreError, archive_folder
from tests.desktop.qt.app_helpers import new_window

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def _broken_folder(tmp_path: Path, n: int = 2) -> Path:
    folder = tmp_path / "s"
    folder.mkdir()
    for i in range(n):  # unreadable files are flagged (status error) without inference
        (folder / f"bad{i}.jpeg").write_bytes(b"\xff\xd8\xff\xe0 broken " + bytes([i]))
    return folder


def _seed(home: Path, n: int = 1) -> Path:
    db = home / "data" / "review.sqlite3"
    with ReviewStore(db) as s:
        for i in range(n):
            s.upsert(FlagEntry(path=f"/old/{i}.png", file_sha256=f"{i:064d}", status="error",
                               message="bad", model_sha256="m" * 64))
    return db


def _entry_in(w, key):
    return next(e for e in w.flagged.model.entries() if e.key == key)


def test_two_windows_second_mark_conflicts_and_refreshes(qtbot, tmp_path, home):
    w1 = new_window(qtbot, [_broken_folder(tmp_path)])
    w2 = new_window(qtbot)  # the same data file, showing every entry pending
    key = w1.flagged.model.entries()[0].key
    assert w1.set_review(_entry_in(w1, key), "reviewed", "note A")
    shown_b = _entry_in(w2, key)
    assert shown_b.review_state == "pending"
    assert not w2.set_review(shown_b, "dismissed", "note B")
    refreshed = _entry_in(w2, key)
    assert (refreshed.review_state, refreshed.note) == ("reviewed", "note A")
    assert "changed in another window" in w2.statusBar().currentMessage()
    with ReviewStore(home / "data" / "review.sqlite3") as s:
        assert s.get(*key).note == "note A"
    # the user saw the refreshed state; a second, deliberate mark applies
    assert w2.set_review(refreshed, "dismissed", "note B")
    out = tmp_path / "a.csv"
    w1.export_flagged(out)
    assert "note B" in out.read_text(encoding="utf-8")


def test_other_windows_marks_are_shown_without_a_conflict_first(qtbot, tmp_path, home):
    w1 = new_window(qtbot, [_broken_folder(tmp_path)])
    w2 = new_window(qtbot)
    w2.refresh_flags_if_changed()  # baseline
    key = w1.flagged.model.entries()[0].key
    assert w1.set_review(_entry_in(w1, key), "dismissed", "artefact")
    assert w2.refresh_flags_if_changed() == 1
    assert _entry_in(w2, key).review_state == "dismissed"
    assert "changed in another window" in w2.statusBar().currentMessage()
    assert w2.refresh_flags_if_changed() == 0  # nothing new
    assert w2._refresh_timer.isActive()  # also polled, not only on activation


def test_deleted_data_folder_is_shown_not_silently_lost(qtbot, tmp_path, home):
    w = new_window(qtbot, [_broken_folder(tmp_path)])
    entry = w.flagged.model.entries()[0]
    shutil.rmtree(home / "data")
    assert not w.set_review(entry, "reviewed", "gone?")
    assert "deleted or moved" in w.statusBar().currentMessage()
    assert _entry_in(w, entry.key).review_state == "pending"
    w.open_paths([str(tmp_path / "s")])  # a new batch would save to a new, empty file
    assert w.count_label.text().startswith("Stopped: ") and not w.runner.running
    assert not (home / "data").exists()


def test_damaged_legacy_audit_file_is_shown_and_the_app_works(qtbot, tmp_path, home):
    (home / "data").mkdir(parents=True)
    (home / "data" / "audit.sqlite3").write_bytes(b"SQLite format 3\0" + b"\xff" * 600)
    w = new_window(qtbot, [_broken_folder(tmp_path)])
    assert "could not be imported" in w.banner.text() and not w.banner.isHidden()
    assert w.flagged.model.rowCount() == 2
    assert (home / "data" / "audit.sqlite3").exists()


def test_batch_that_cannot_save_stops_with_the_cause(qtbot, tmp_path, monkeypatch):
    def full(self, entries, audit=()):
        raise ReviewStoreError(f"Cannot save to the review list {self.path}: the disk holding "
                               "it is full (database or disk is full)")

    monkeypatch.setattr(ReviewStore, "upsert_many", full)
    w = new_window(qtbot, [_broken_folder(tmp_path, 3)])
    text = w.count_label.text()
    assert text.startswith("Stopped: ") and "disk is full" in text and "Done" not in text


def _sqlite_under(monkeypatch, folder: Path, fault: str = "") -> None:
    """Connections to files in ``folder`` open read-only (``mode=ro``, as on a read-only file
    or folder: the tests run as root, for whom permission bits do not stop writes), or fail
    with ``fault`` (e.g. a full disk). Read-only URIs (copies, verify) open as usual."""
    real = sqlite3.connect

    def connect(path, *args, **kwargs):
        if isinstance(path, (str, Path)) and not str(path).startswith("file:") and (
                Path(path).parent == folder):
            if fault:
                raise sqlite3.OperationalError(fault)
            return real(Path(path).resolve().as_uri() + "?mode=ro", *args, uri=True, **kwargs)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(sqlite_util.sqlite3, "connect", connect)


def _assert_shown_read_only(w, saved: Path, qtbot) -> None:
    """The saved list is shown, its controls are off with the reason, a mark, an undo and an
    archive are refused with a clear message, and the saved file is not written."""
    text = w.banner.text()
    assert not w.banner.isHidden() and text.startswith("READ-ONLY: ")
    assert "is read-only" in text and "shown read-only" in text and "Ask IT" in text
    assert "can still be classified" in text and "session copy" in text
    assert w.session.storage.read_only and saved.parent not in w.review_db.parents
    before = saved.read_bytes()
    entries = w.flagged.model.entries()
    assert len(entries) == 2  # the saved list is shown
    assert w.flagged.title.text().startswith("READ-ONLY ")
    w.flagged.select_key(entries[0].key)
    w._set_shown(entries[0].path)  # its film on screen: the buttons would be enabled
    assert not w.flagged.reviewed_button.isEnabled() and not w.flagged.note_edit.isEnabled()
    assert "read-only" in w.flagged.reviewed_button.toolTip()
    assert not w.flagged.archive_button.isEnabled()
    assert not w.set_review(entries[0], "reviewed", "ok")  # refused...
    assert "Not saved: the review list is shown read-only" in w.statusBar().currentMessage()
    w.undo_stack.append((entries[0], "reviewed"))
    w.undo_review()
    # ...in the store too, not only by the window
    with pytest.raises(ReviewStoreError, match="shown read-only"):
        w.store.mark(entries[0], entries[0].review_state, "dismissed", "x")
    with pytest.raises(ReviewStoreError, match="shown read-only"):
        archive_folder(w.store, "/old", archived=False)
    assert [e.review_state for e in w.store.entries()] == ["pending", "pending"]
    assert saved.read_bytes() == before  # nothing written to the saved file
    qtbot.waitUntil(lambda: w.audit_check is not None, timeout=20_000)
    assert w.audit_check.ok, w.audit_check.summary()  # the saved trail, verified read-only


def test_read_only_data_folder_shows_the_saved_list_read_only(qtbot, tmp_path, home,
                                                              monkeypatch):
    saved = _seed(home, 2)
    _sqlite_under(monkeypatch, saved.parent)
    w = new_window(qtbot)
    assert f"The data folder {saved.parent} is read-only" in w.banner.text()
    _assert_shown_read_only(w, saved, qtbot)
    before = saved.read_bytes()
    with qtbot.waitSignal(w.runner.finished, timeout=60_000):  # films can still be classified
        w.open_paths([str(_broken_folder(tmp_path))])
    assert w.count_label.text().startswith("Done: ")
    assert len(w.flagged.model.entries()) == 4  # listed from the session copy
    assert saved.read_bytes() == before


def test_read_only_data_file_in_a_writable_folder_is_shown_read_only(qtbot, home, monkeypatch):
    saved = _seed(home, 2)
    saved.chmod(0o444)  # stops writes for a normal account; mode=ro below for root too
    _sqlite_under(monkeypatch, saved.parent)
    w = new_window(qtbot)
    assert "read-only" in w.banner.text()
    _assert_shown_read_only(w, saved, qtbot)
    assert saved.stat().st_mode & 0o777 == 0o444


def test_full_disk_keeps_a_session_copy_where_marks_work(qtbot, home, monkeypatch):
    saved = _seed(home, 2)
    _sqlite_under(monkeypatch, saved.parent, fault="database or disk is full")
    w = new_window(qtbot)
    text = w.banner.text()
    assert "disk holding" in text and "is full" in text and "for this session only" in text
    assert "READ-ONLY" not in text and not w.session.storage.read_only
    entries = w.flagged.model.entries()
    assert len(entries) == 2  # the saved list is shown
    assert w.set_review(entries[0], "reviewed", "ok")  # and marks work for the session
    assert w.store.get(*entries[0].key).review_state == "reviewed"


def test_missing_data_folder_keeps_a_session_copy_where_marks_work(qtbot, tmp_path, home):
    home.write_text("not a folder")  # the data folder cannot be created
    w = new_window(qtbot, [_broken_folder(tmp_path)])
    assert "for this session only" in w.banner.text() and "READ-ONLY" not in w.banner.text()
    assert not w.session.storage.read_only
    entry = w.flagged.model.entries()[0]
    assert w.set_review(entry, "reviewed", "ok")
    assert w.store.get(*entry.key).review_state == "reviewed"


def test_tampered_audit_trail_is_announced_and_verify_names_the_row(qtbot, home):
    db = _seed(home)
    with AuditLog(db) as log:
        for i in range(3):
            log.append(AuditEvent(action="classify", path=f"/x/{i}", decision="NORMAL"))
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit SET decision='PNEUMONIA' WHERE id=2")
    con.commit()
    con.close()
    w = new_window(qtbot)
    qtbot.waitUntil(lambda: w.audit_check is not None, timeout=20_000)  # checked in background
    assert "TAMPERED" in w.banner.text() and "id 2" in w.banner.text()
    assert not w.banner.isHidden()
    actions = [a.text() for a in w.findChildren(type(w.actions()[0]))]
    assert "Verify audit trail" in actions
    box = w.verify_audit_dialog()
    assert "id 2" in box.text() and "audit_no_update is missing" in box.text()
    box.close()


def test_verify_on_an_intact_trail_says_so(qtbot, home):
    w = new_window(qtbot)
    qtbot.waitUntil(lambda: w.audit_check is not None, timeout=20_000)
    assert w.audit_check.ok and w.banner.isHidden()
    box = w.verify_audit_dialog()
    assert box.text().startswith("Audit trail intact")
    box.close()


def test_window_honours_model_dir_and_threshold(qtbot, tmp_path, model_dir):
    opts = app_module.parse_window_args(["--model-dir", str(model_dir), "--threshold", "0.3",
                                         "a.png", "--", "--odd-name.png"])
    assert (opts.model_dir, opts.threshold, opts.paths) == (model_dir, 0.3,
                                                            ["a.png", "--odd-name.png"])
    with pytest.raises(app_module.UsageError, match="strictly between 0 and 1"):
        app_module.parse_window_args(["--threshold", "1.5"])
    w = app_module.create_window(show_first_start=False, model_dir=model_dir, threshold=0.3)
    qtbot.addWidget(w)
    assert w.bundle is not None and w.threshold == pytest.approx(0.3)
    assert "--threshold" in w.result_panel.model_label.text()
    assert not [e for e in w.flagged.model.entries() if "--model-dir" in e.path]
    empty = tmp_path / "no-model"
    empty.mkdir()
    w2 = app_module.create_window(show_first_start=False, model_dir=empty)
    qtbot.addWidget(w2)
    assert w2.bundle is None and w2.model_error


def test_bad_window_option_exits_2_without_a_window(capsys):
    assert app_module.run_gui(["--threshold", "nan"]) == 2
    assert "threshold" in capsys.readouterr().err


def test_non_utf8_name_reopens_from_the_review_list(qtbot, tmp_path, full_res_images, bundle):
    import os

    from desktop.jobs import classify_job, load_preview

    folder = tmp_path / "films"
    folder.mkdir()
    name = os.fsdecode(b"film-\xff\xfe.jpeg")
    shutil.copy(full_res_images[0], folder / name)
    db = tmp_path / "d.db"
    list(classify_job([str(folder)], bundle, 1e-6, db))  # everything in scope is flagged
    with ReviewStore(db) as s:
        [entry] = s.entries()
    assert "\\xff\\xfe" in entry.path  # shown as escapes...
    assert entry.open_path == str(folder / name)  # ...opened with the exact bytes
    assert load_preview(entry.open_path, None, 0.5).pixels is not None
    w = new_window(qtbot)
    w.flagged.model.set_entries([entry])
    w.flagged.entry_activated.emit(entry)
    qtbot.waitUntil(lambda: w.viewer.pixels is not None, timeout=20_000)


@pytest.fixture(scope="module")
def bundle(model_dir):
    from pneumonia_core.model import ModelBundle

    return ModelBundle.load(model_dir)

