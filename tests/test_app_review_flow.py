"""Issue 14, items 1-2: the reader's review workflow (pytest-qt, offscreen).

Selecting a flagged entry (click or arrow keys) loads its film; review actions act only on the
film on screen; keyboard-only review (J/K, R, D, O, N, Ctrl+Z) with auto-advance; the reviewer
(OS account) is recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from desktop.audit import AuditLog, current_user
from desktop.review_store import ReviewStore
from tests.app_helpers import copy_images, new_window

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


@pytest.fixture
def study(tmp_path, full_res_images) -> Path:
    """Four real films plus three unreadable files: at least three flagged entries."""
    folder = copy_images(full_res_images[:4], tmp_path / "study")
    (folder / "bad_a.jpeg").write_text("not an image")
    (folder / "bad_b.png").write_bytes(b"\x89PNG broken")
    (folder / "bad_c.jpeg").write_bytes(b"\xff\xd8\xff truncated")
    return folder


def _key(w, text: str) -> None:
    """Type a key sequence into whatever has focus, as a user would."""
    target = QApplication.focusWidget() or w
    for ch in text:
        QTest.keyClick(target, ch)
        target = QApplication.focusWidget() or w


def _shown_film_is_current(w) -> bool:
    e = w.flagged.current_entry()
    return e is not None and w.shown_path == e.path and (
        w.viewer.pixels is None  # an unreadable file: its error is what is shown
        or w.viewer.pixels is w.previews.cache[e.path].pixels)


def test_single_click_on_a_flagged_entry_loads_its_film_and_gates_the_actions(qtbot, study):
    w = new_window(qtbot, [study])
    assert w.flagged.proxy.rowCount() >= 3
    # A non-flagged (or any) results row is on screen first.
    w.table.setCurrentIndex(w.results_proxy.index(0, 0))
    qtbot.waitUntil(lambda: w.shown_path is not None, timeout=20_000)
    for row in range(3):
        view = w.flagged.view
        rect = view.visualRect(w.flagged.proxy.index(row, 0))
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        entry = w.flagged.current_entry()
        assert entry is not None and entry.key == w.flagged.proxy.index(row, 0).data(
            Qt.ItemDataRole.UserRole + 2).key
        # Right after the click: either the entry's film is already shown, or nothing can
        # be marked yet (never the previous film with enabled buttons).
        assert (_shown_film_is_current(w)
                or not w.flagged.reviewed_button.isEnabled())
        qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)
        assert _shown_film_is_current(w)
        assert w.flagged.reviewed_button.isEnabled() and w.flagged.dismiss_button.isEnabled()


def test_arrow_keys_in_the_list_load_each_film(qtbot, study):
    w = new_window(qtbot, [study])
    w.flagged.view.setFocus()
    w.flagged.select_row(0)
    qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)
    QTest.keyClick(w.flagged.view, Qt.Key.Key_Down)
    assert w.flagged.view.currentIndex().row() == 1
    qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)
    assert _shown_film_is_current(w)


def test_no_mark_while_another_film_is_on_screen(qtbot, study, home):
    w = new_window(qtbot, [study])
    w.flagged.select_row(0)
    qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)
    entry = w.flagged.current_entry()
    # The reader pretends another film is loading (as when the selection just moved).
    w._set_shown(None)
    assert not w.flagged.reviewed_button.isEnabled()
    assert not w.flagged.dismiss_button.isEnabled()
    w.review_current("reviewed")
    w.flagged._request("dismissed")  # even a direct button request is refused
    with ReviewStore(home / "data" / "review.sqlite3") as store:
        assert store.get(*entry.key).review_state == "pending"
    assert "not on screen" in w.statusBar().currentMessage()
    # Selecting an unflagged results row leaves no flagged entry current: nothing to mark.
    unflagged = [i for i in range(w.results_proxy.rowCount())
                 if not w.results_proxy.index(i, 0).data(Qt.ItemDataRole.UserRole + 2).flagged]
    if unflagged:
        w.table.setCurrentIndex(w.results_proxy.index(unflagged[0], 0))
        assert w.flagged.current_entry() is None
        assert not w.flagged.reviewed_button.isEnabled()


def test_keyboard_only_review_with_auto_advance_undo_and_reopen(qtbot, study, home, tmp_path):
    w = new_window(qtbot, [study])
    w.activateWindow()
    n = w.flagged.proxy.rowCount()
    assert n >= 3
    order = [w.flagged.proxy.index(i, 0).data(Qt.ItemDataRole.UserRole + 2).key
             for i in range(n)]
    # Start with nothing selected (the first results row may itself be flagged, and J moves on
    # from the current entry): J then shows the first, most likely, pending entry.
    w.table.setCurrentIndex(QModelIndex())
    w.flagged.view.setCurrentIndex(QModelIndex())
    assert w.flagged.current_entry() is None
    w.table.setFocus()
    _key(w, "j")  # next pending: the first (most likely) entry
    assert w.flagged.current_entry().key == order[0]
    qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)
    _key(w, "n")  # note field
    assert QApplication.focusWidget() is w.flagged.note_edit
    QTest.keyClicks(w.flagged.note_edit, "rll consolidation")
    QTest.keyClick(w.flagged.note_edit, Qt.Key.Key_Return)  # Enter = reviewed, advance
    assert w.flagged.current_entry().key == order[1]
    assert QApplication.focusWidget() is w.flagged.view  # focus back on the list
    qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)
    _key(w, "d")  # dismiss, advance
    assert w.flagged.current_entry().key == order[2]
    qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)
    _key(w, "r")
    with ReviewStore(home / "data" / "review.sqlite3") as store:
        states = [store.get(*k).review_state for k in order[:3]]
        assert store.get(*order[0]).note == "rll consolidation"
    assert states == ["reviewed", "dismissed", "reviewed"]
    # Undo the last decision: back to pending, and its film is selected again.
    QTest.keyClick(w.flagged.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.flagged.current_entry().key == order[2]
    with ReviewStore(home / "data" / "review.sqlite3") as store:
        assert store.get(*order[2]).review_state == "pending"
    # Reopen the first one (reviewed) with K (previous pending skips it: it is not pending),
    # so select it by key and press O once its film is shown.
    w.flagged.select_key(order[0])
    qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)
    w.flagged.view.setFocus()
    _key(w, "o")
    with ReviewStore(home / "data" / "review.sqlite3") as store:
        assert store.get(*order[0]).review_state == "pending"
    with AuditLog(home / "data" / "review.sqlite3") as audit:
        events = [e for e in audit.all() if e.action.startswith("review:")]
    assert [e.action for e in events] == ["review:reviewed", "review:dismissed",
                                          "review:reviewed", "review:pending",  # the undo
                                          "review:pending"]  # the reopen
    assert {e.user for e in events} == {current_user()}
    assert current_user() in w.flagged.reviewer_label.text()
    # The reviewer is in the entry and in the export.
    out = tmp_path / "flagged.csv"
    w.export_flagged(out)
    import csv

    with out.open(encoding="utf-8", newline="") as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    assert rows[order[1][0]]["reviewer"] == current_user()
    assert rows[order[1][0]]["review_state"] == "dismissed"


def test_tab_reaches_the_note_field_from_the_list(qtbot, study):
    w = new_window(qtbot, [study])
    w.activateWindow()
    w.flagged.select_row(0)
    qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)
    w.flagged.view.setFocus()
    QTest.keyClick(w.flagged.view, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is w.flagged.note_edit
    QTest.keyClicks(w.flagged.note_edit, "rd")  # letters go to the note, not to shortcuts
    assert w.flagged.note_edit.text() == "rd"
    assert w.flagged.current_entry().review_state == "pending"


def test_next_pending_wraps_and_says_when_none_is_left(qtbot, study):
    w = new_window(qtbot, [study])
    w.flagged.advance_check.setChecked(True)
    n = w.flagged.proxy.rowCount()
    w.next_pending(+1)
    for _ in range(n):
        qtbot.waitUntil(w.flagged.film_shown, timeout=20_000)
        w.review_current("reviewed")
    assert all(e.review_state == "reviewed" for e in w.flagged.model.entries())
    assert "All flagged films are reviewed" in w.statusBar().currentMessage()
    w.next_pending(+1)
    assert "No other pending" in w.statusBar().currentMessage()
