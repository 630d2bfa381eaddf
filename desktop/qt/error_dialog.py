"""The window's last-resort error dialog, installed into :mod:`desktop.logging_setup` (which
stays Qt-free) by :func:`desktop.qt.app.create_window`."""

from __future__ import annotations

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop import paths

#: Error dialogs currently shown (kept referenced so Python does not collect them).
_open_boxes: list[QMessageBox] = []


def show_error_dialog(summary: str, details: str) -> None:
    """A non-modal dialog naming the error and the log file; only on the GUI thread and only
    while a QApplication exists (elsewhere the log line already written is the report)."""
    app = QApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return
    box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error", summary)
    box.setInformativeText(
        "The application keeps running. Details were written to the log file:\n"
        f"{paths.log_path()}"
    )
    box.setDetailedText(details)
    box.setModal(False)
    box.show()  # non-blocking: the event loop and the window go on
    _open_boxes.append(box)
    box.finished.connect(lambda _=0, b=box: _open_boxes.remove(b) if b in _open_boxes else None)
