"""The machine settings in the window (issue 24): what IT decided for this workstation is shown
under the model line and enforced here: a locked threshold, a required reviewer name; a new
model version since this data file's last use is announced (banner line and audit event), and
the settings in force are audited at first use and whenever IT changes them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QLabel, QMessageBox

from desktop.model_change import note_machine_settings, note_model

if TYPE_CHECKING:
    from desktop.qt.main_window import MainWindow

LOCKED = "The threshold is locked by this workstation's machine settings"


def install(w: MainWindow) -> None:
    """After the window is built: the reviewer name, the model announcement, the menu entry."""
    if w.machine.require_reviewer_name:
        w.reviewer = ""
        w.flagged.reviewer_label.setText("Reviewer: (name required: Tools > Reviewer name…)")
    action = QAction("Reviewer name…", w)
    action.triggered.connect(lambda: ask_reviewer(w))
    tools = next((a.menu() for a in w.menuBar().actions() if a.text() == "&Tools"), None)
    (tools or w.menuBar().addMenu("&Tools")).addAction(action)
    status = QLabel(w.machine.summary())
    status.setObjectName("machine_status")
    status.setToolTip(w.machine.describe())
    status.setVisible(bool(w.machine.summary()))
    status.setStyleSheet("color:#b3261e; font-weight:bold;" if w.machine.problem else "")
    w.statusBar().addPermanentWidget(status)
    w.machine_status = status
    if w.machine.problem:
        w.banner.setText("\n".join(t for t in (
            w.banner.text(), f"Machine settings refused ({w.machine.path}: {w.machine.problem}); "
            "the safe values are used. Ask IT.") if t))
        w.banner.setVisible(True)
    note_machine_settings(w.audit, w.machine)
    if w.meta is not None and w.bundle is not None and w.bundle.verified:  # the installed model
        text = note_model(w.audit, w.meta)
        if text:
            w.banner.setText("\n".join(t for t in (w.banner.text(), text) if t))
            w.banner.setVisible(True)


def describe(w: MainWindow) -> str:
    return w.machine.describe()


def threshold_allowed(w: MainWindow) -> bool:
    """False, with a message, while the machine settings lock the threshold."""
    if not w.machine.threshold_locked:
        return True
    QMessageBox.information(w, "Threshold locked", f"{LOCKED} ({w.machine.path}).")
    return False


def ask_reviewer(w: MainWindow) -> bool:
    """Ask for the reviewer's name (required by IT, or to change it); True when one is set."""
    name, ok = QInputDialog.getText(w, "Reviewer name", "Your name, as recorded with each "
                                    "review decision:", text=w.reviewer)
    name = " ".join(name.split())
    if ok and name:
        w.reviewer = name
        w.flagged.reviewer_label.setText(f"Reviewer: {name}")
    return bool(w.reviewer)


def reviewer_ready(w: MainWindow) -> bool:
    """Before a mark: True when a reviewer name is known (asked for when IT requires one)."""
    return bool(w.reviewer) or ask_reviewer(w)
