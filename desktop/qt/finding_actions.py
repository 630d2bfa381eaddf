"""Reader findings in the window (issue 25): record "pneumonia" / "no pneumonia" / "not
assessable" on the film on screen (keys P, C, A; F with a note), from the Review menu or the
right-click menu of the results table and the worklist; export them. The logic is the
session's (:meth:`desktop.session.ReadingSession.record_finding`); this module shows it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QRadioButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.audit import AuditEvent
from desktop.findings import FINDING_TEXT, FINDINGS
from desktop.jobs import ResultRow
from desktop.qt import machine_actions
from desktop.qt.table_models import ROW_ROLE
from desktop.review_store import FlagEntry
from desktop.sqlite_util import StorageError
from pneumonia_core.files import display_path

if TYPE_CHECKING:
    from desktop.qt.main_window import MainWindow

log = logging.getLogger(__name__)

#: Keys of the findings (menu order = desktop.findings.FINDINGS).
KEYS = {"pneumonia": "P", "no_pneumonia": "C", "not_assessable": "A"}


def film_on_screen(w: MainWindow) -> ResultRow | FlagEntry | None:
    """The film shown in the viewer: its results row, else its worklist entry (a film of an
    earlier session); None while none is shown or one is loading."""
    shown = w.shown_path
    if shown is None:
        return None
    row = next((r for r in w.session.results.rows if display_path(r.path) == shown), None)
    if row is not None:
        return row
    return next((e for e in w.flagged.model.entries() if e.path == shown), None)


def record(w: MainWindow, finding: str, note: str = "",
           film: ResultRow | FlagEntry | None = None) -> bool:
    """Record ``finding`` on ``film`` (default: the film on screen); says what happened in the
    status bar. Returns True when saved."""
    film = film if film is not None else film_on_screen(w)
    if film is None:
        w.statusBar().showMessage("No film on screen: no finding recorded", 5000)
        return False
    if not machine_actions.reviewer_ready(w):
        w.statusBar().showMessage("A reviewer name is required: no finding recorded", 6000)
        return False
    try:
        found, entry = w.session.record_finding(film, finding, note, w.reviewer)
    except (StorageError, ValueError) as exc:
        w.show_error(f"The finding was not saved: {exc}")
        return False
    if entry is not None:
        w.flagged.model.upsert([entry])
        if entry.path == w.shown_path:  # the film on screen: its entry becomes current
            w.flagged.select_key(entry.key)
    name = Path(found.path).name
    on_list = (" · on the worklist as a reader finding"
               if entry is not None and entry.origin == "reader" else "")
    w.statusBar().showMessage(f"{name}: finding '{found.text}' recorded by {found.reviewer}"
                              f"{on_list}", 8000)
    return True


class FindingDialog(QDialog):
    """Choose a finding and write an optional note (key F)."""

    def __init__(self, name: str, current: str, note: str, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Reader finding: {name}")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Your finding on {name} (whatever the model said):"))
        self.group = QButtonGroup(self)
        for value in FINDINGS:
            b = QRadioButton(f"{FINDING_TEXT[value]}  ({KEYS[value]})")
            b.setAccessibleName(f"Finding: {FINDING_TEXT[value]}")
            b.setChecked(value == (current or FINDINGS[0]))
            self.group.addButton(b)
            b.setProperty("finding", value)
            lay.addWidget(b)
        lay.addWidget(QLabel("Note (optional):"))
        self.note = QLineEdit(note)
        self.note.setAccessibleName("Finding note")
        lay.addWidget(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def finding(self) -> str:
        return str(self.group.checkedButton().property("finding"))


def finding_dialog(w: MainWindow, film: ResultRow | FlagEntry | None = None
                   ) -> FindingDialog | None:
    """Record a finding with a note on ``film`` (default: the film on screen)."""
    film = film if film is not None else film_on_screen(w)
    if film is None:
        w.statusBar().showMessage("No film on screen: no finding recorded", 5000)
        return None
    try:
        current = w.session.finding_of(film)
    except StorageError:
        current = None
    d = FindingDialog(Path(film.path).name, current.finding if current else "",
                      current.note if current else "", w)
    d.accepted.connect(lambda: record(w, d.finding(), d.note.text().strip(), film))
    d.open()
    w.finding_box = d
    return d


def _context_menu(w: MainWindow, view: QTableView, pos: QPoint) -> QMenu | None:
    idx = view.indexAt(pos)
    film = idx.data(ROW_ROLE) if idx.isValid() else None
    if film is None:
        return None
    menu = QMenu(view)
    for value in FINDINGS:
        action = menu.addAction(f"Finding: {FINDING_TEXT[value]}")
        action.triggered.connect(lambda _=False, v=value, f=film: record(w, v, "", f))
    menu.addAction("Finding with a note…").triggered.connect(
        lambda _=False, f=film: finding_dialog(w, f))
    menu.popup(view.viewport().mapToGlobal(pos))
    return menu


def install(w: MainWindow) -> None:
    """Right-click menus of the results table and the worklist."""
    for view in (w.table, w.flagged.view):
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(
            lambda pos, v=view: _context_menu(w, v, pos))


def export_dialog(w: MainWindow) -> None:
    """File > Export reader findings as CSV… (every finding; audited)."""
    folder = w.settings.last_export_folder or str(Path.home())
    dest, _ = QFileDialog.getSaveFileName(w, "Export reader findings",
                                          str(Path(folder) / "reader_findings.csv"),
                                          "CSV files (*.csv)")
    if dest:
        export(w, Path(dest))


def export(w: MainWindow, dest: Path) -> int | None:
    try:
        n = w.store.export_findings_csv(dest)
        w.audit.append(AuditEvent(action="export", path=str(dest),
                                  note=f"{n} reader findings"))
    except (OSError, StorageError) as exc:
        w.show_error(f"Could not write {dest}: {exc}")
        return None
    w.statusBar().showMessage(f"{n} reader finding(s) written to {dest}", 8000)
    return n
