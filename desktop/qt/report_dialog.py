"""Tools > Performance report…: the local performance report (:mod:`desktop.report`) for a
chosen period, computed off the GUI thread, shown with its plots, saved as HTML or PDF
(QPdfWriter and QTextDocument are in QtGui: nothing added to the bundle)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, QUrl
from PySide6.QtGui import QImage, QPageSize, QPdfWriter, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop import report, report_plots
from desktop.audit import AuditEvent
from desktop.qt import worker as workers
from desktop.sqlite_util import StorageError

if TYPE_CHECKING:
    from desktop.qt.main_window import MainWindow

log = logging.getLogger(__name__)


def _compute(db: Path, since: str, until: str) -> tuple[report.Report, dict[str, bytes]]:
    r = report.build(db, since, until)
    return r, report_plots.plots(r)


class PerformanceReportDialog(QDialog):
    """The report of a period (default: the last 12 weeks), refreshed in the background."""

    def __init__(self, w: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent or w)
        self.w = w
        self.report: report.Report | None = None
        self.pngs: dict[str, bytes] = {}
        self._worker: workers.FunctionWorker | None = None
        self.setWindowTitle("Local performance report")
        self.resize(900, 860)
        lay = QVBoxLayout(self)
        period = QHBoxLayout()
        today = QDate.currentDate()
        self.since = QDateEdit(today.addDays(-7 * 12))
        self.until = QDateEdit(today)
        for edit, name in ((self.since, "From"), (self.until, "To (inclusive)")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setAccessibleName(f"Report period: {name.lower()}")
            period.addWidget(QLabel(name))
            period.addWidget(edit)
        self.all_time = QCheckBox("Everything recorded")
        self.all_time.toggled.connect(lambda on: (self.since.setEnabled(not on),
                                                  self.until.setEnabled(not on)))
        period.addWidget(self.all_time)
        self.refresh_button = QPushButton("Show")
        self.refresh_button.setDefault(True)
        self.refresh_button.clicked.connect(self.refresh)
        period.addWidget(self.refresh_button)
        period.addStretch(1)
        lay.addLayout(period)
        self.status = QLabel("")
        lay.addWidget(self.status)
        self.view = QTextBrowser()
        self.view.setAccessibleName("Performance report")
        lay.addWidget(self.view, 1)
        buttons = QHBoxLayout()
        self.html_button = QPushButton("Save as HTML…")
        self.pdf_button = QPushButton("Save as PDF…")
        close = QPushButton("Close")
        self.html_button.clicked.connect(self.save_html_dialog)
        self.pdf_button.clicked.connect(self.save_pdf_dialog)
        close.clicked.connect(self.reject)
        for b in (self.html_button, self.pdf_button):
            b.setEnabled(False)
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        lay.addLayout(buttons)

    def period(self) -> tuple[str, str]:
        if self.all_time.isChecked():
            return "", ""
        return (self.since.date().toString("yyyy-MM-dd"),
                self.until.date().toString("yyyy-MM-dd"))

    def refresh(self) -> None:
        """Compute the report of the period in a worker; the window stays responsive."""
        since, until = self.period()
        self.refresh_button.setEnabled(False)
        self.status.setText("Computing the report…")
        wk = workers.FunctionWorker(_compute, self.w.session.storage.trail, since, until)
        wk.signals.returned.connect(self._show)
        wk.signals.errored.connect(self._failed)
        wk.signals.finished.connect(lambda: self.refresh_button.setEnabled(True))
        self._worker = wk
        workers.start(wk)

    def _failed(self, exc: object) -> None:
        self.status.setText(f"The report could not be made: {exc}")
        log.error("performance report: %s", exc)

    def _show(self, value: tuple[report.Report, dict[str, bytes]]) -> None:
        self.report, self.pngs = value
        self.view.setDocument(self._document())
        self.status.setText(f"Period {self.report.period}: {len(self.report.findings)} "
                            f"finding(s), {self.report.films} film(s) classified")
        for b in (self.html_button, self.pdf_button):
            b.setEnabled(True)

    def _document(self) -> QTextDocument:
        """The report as a QTextDocument, its plots added as image resources."""
        assert self.report is not None
        doc = QTextDocument(self)
        for name, png in self.pngs.items():
            doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"plot:{name}"),
                            QImage.fromData(png, "PNG"))
        doc.setHtml(report.html(self.report, lambda name, _png: f"plot:{name}"))
        return doc

    # -- saving ----------------------------------------------------------------------------
    def _target(self, title: str, name: str, pattern: str) -> Path | None:
        folder = self.w.settings.last_export_folder or str(Path.home())
        dest, _ = QFileDialog.getSaveFileName(self, title, str(Path(folder) / name), pattern)
        return Path(dest) if dest else None

    def save_html_dialog(self) -> None:
        dest = self._target("Save the report as HTML", "performance_report.html",
                            "HTML (*.html)")
        if dest:
            self.save_html(dest)

    def save_pdf_dialog(self) -> None:
        dest = self._target("Save the report as PDF", "performance_report.pdf", "PDF (*.pdf)")
        if dest:
            self.save_pdf(dest)

    def save_html(self, dest: Path) -> bool:
        from pneumonia_core.atomic_files import atomic_write_bytes

        assert self.report is not None
        return self._saved(dest, "html", lambda: atomic_write_bytes(
            dest, report.html(self.report).encode("utf-8")))

    def save_pdf(self, dest: Path) -> bool:
        def write() -> None:
            tmp = dest.with_name(dest.name + ".part")
            writer = QPdfWriter(str(tmp))
            writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
            writer.setResolution(150)
            writer.setTitle("pneumonia-xray: local performance report")
            doc = self._document()
            doc.setPageSize(writer.pageLayout().paintRectPixels(150).size().toSizeF())
            doc.print_(writer)
            del writer  # closes the file
            tmp.replace(dest)

        return self._saved(dest, "pdf", write)

    def _saved(self, dest: Path, kind: str, write: object) -> bool:
        from desktop.safe_output import check_output

        problem = check_output(dest, kind, [self.w.session.storage.db])
        if problem:
            self.w.show_error(problem)
            return False
        try:
            write()  # type: ignore[operator]
            self.w.audit.append(AuditEvent(action="export", path=str(dest),
                                           note=f"performance report ({kind}), "
                                           f"{self.report.period if self.report else ''}"))
        except (OSError, StorageError) as exc:
            self.w.show_error(f"Could not write {dest}: {exc}")
            return False
        self.w.settings.last_export_folder = str(dest.parent)
        self.status.setText(f"Saved {dest}")
        return True


def open_report(w: MainWindow) -> PerformanceReportDialog:
    d = PerformanceReportDialog(w)
    d.open()
    d.refresh()
    w.performance_report = d
    return d
