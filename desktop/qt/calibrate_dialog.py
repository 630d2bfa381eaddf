"""Tools > Calibrate…: fit a site profile in the window, from a labelled folder, a CSV or the
findings readers recorded, and say how labels are given. It runs ``calibrate``
(:mod:`desktop.calibrate`: the same pipeline, guard rails and report as the command line) in a
worker thread, its progress lines on a bar and in the log; the window never waits. The fitted
profile is used only once imported (the button does it, through Tools > Import site profile's
own checks)."""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop import calibrate, paths
from desktop.qt import site_actions
from desktop.qt import worker as workers

if TYPE_CHECKING:
    from desktop.qt.main_window import MainWindow

log = logging.getLogger(__name__)

_PROGRESS = re.compile(r"classified (\d+)/(\d+)")
FOLDER, CSV, FINDINGS = "folder", "csv", "findings"


def labels_help(labels: tuple[str, str], n_findings: int) -> str:
    """How labels are given (rich text): the three sources, as the command line reads them."""
    neg, pos = (html.escape(x) for x in labels)
    from pneumonia_core.profile_bounds import MIN_PER_CLASS

    return (
        "<p>A <b>site profile</b> fits the model's calibration and threshold to this site's "
        "films. It needs films whose true label is known: at least "
        f"<b>{MIN_PER_CLASS} {neg}</b> and <b>{MIN_PER_CLASS} {pos}</b>. Labels are given "
        "in one of three ways:</p><ul>"
        f"<li><b>A folder</b> with <code>{neg}/</code> and <code>{pos}/</code> sub-folders "
        "(at any depth; the nearest such folder names the label).</li>"
        f"<li><b>A CSV file</b> of <code>path,label</code> rows, label <code>{neg}</code> or "
        f"<code>{pos}</code> (a header row is allowed; relative paths start at the CSV's "
        "folder).</li>"
        f"<li><b>Reader findings</b> recorded in this window ({n_findings} so far): "
        f"<i>pneumonia</i> (key P) labels a film {pos}, <i>no pneumonia</i> (C) {neg}; "
        "<i>not assessable</i> (A) is left out.</li></ul>"
        "<p>Every film goes through the app's own pipeline; unreadable, out-of-scope and "
        "repeated films are left out and listed. The profile is refused (nothing written) "
        "when the films cannot support it. It is used only once you import it.</p>")


class _Lines(QObject):
    """A text stream for the worker thread: each write becomes a ``text`` signal."""

    text = Signal(str)

    def write(self, s: str) -> int:
        if s:
            self.text.emit(s)
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _run(argv: list[str], out: _Lines, err: _Lines) -> int:
    return calibrate.main(argv, stdout=out, stderr=err)  # type: ignore[arg-type]


class CalibrateDialog(QDialog):
    def __init__(self, w: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent or w)
        self.w = w
        self._worker: workers.FunctionWorker | None = None
        self.code: int | None = None
        self.setWindowTitle("Calibrate for this site")
        self.resize(860, 760)
        lay = QVBoxLayout(self)
        labels = tuple(w.meta.labels[:2]) if w.meta is not None else ("NORMAL", "PNEUMONIA")
        self.help = QLabel(labels_help(labels, len(w.store.findings())))  # type: ignore[arg-type]
        self.help.setTextFormat(Qt.TextFormat.RichText)
        self.help.setWordWrap(True)
        lay.addWidget(self.help)
        kinds = QHBoxLayout()
        kinds.addWidget(QLabel("Labels from:"))
        self.kind = QButtonGroup(self)
        for i, (key, text) in enumerate(((FOLDER, "Labelled folder"), (CSV, "CSV of path,label"),
                                         (FINDINGS, "Reader findings"))):
            b = QRadioButton(text)
            b.setProperty("kind", key)
            b.setChecked(i == 0)
            self.kind.addButton(b)
            kinds.addWidget(b)
        kinds.addStretch(1)
        lay.addLayout(kinds)
        grid = QGridLayout()
        self.kind.buttonToggled.connect(self._kind_changed)
        self.source = QLineEdit(w.settings.last_folder)
        self.source.setAccessibleName("Labelled films: folder or CSV")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse_source)
        grid.addWidget(QLabel("Films"), 1, 0)
        grid.addWidget(self.source, 1, 1)
        grid.addWidget(self.browse, 1, 2)
        self.out = QLineEdit(str(paths.config_base() / "site_profile.json"))
        self.out.setAccessibleName("Site profile to write")
        out_browse = QPushButton("Browse…")
        out_browse.clicked.connect(self._browse_out)
        grid.addWidget(QLabel("Profile"), 2, 0)
        grid.addWidget(self.out, 2, 1)
        grid.addWidget(out_browse, 2, 2)
        self.target = QDoubleSpinBox()
        self.target.setRange(0.5, 0.999)
        self.target.setDecimals(3)
        self.target.setSingleStep(0.005)
        self.target.setValue(float(w.meta.threshold.get("target_sensitivity", 0.95))
                             if w.meta is not None else 0.95)
        self.target.setAccessibleName("Target sensitivity")
        grid.addWidget(QLabel("Target sensitivity"), 3, 0)
        grid.addWidget(self.target, 3, 1)
        lay.addLayout(grid)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m films")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)  # until a fit runs
        lay.addWidget(self.progress)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setAccessibleName("Calibration log and report")
        font = QFont("Monospace")
        font.setStyleHint(QFont.StyleHint.TypeWriter)
        self.log_view.setFont(font)
        lay.addWidget(self.log_view, 1)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Fit profile")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start)
        self.import_button = QPushButton("Import this profile")
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(self._import)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        for b in (self.run_button, self.import_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        lay.addLayout(buttons)
        self.run_button.setEnabled(w.bundle is not None)

    def source_kind(self) -> str:
        return str(self.kind.checkedButton().property("kind"))

    def _kind_changed(self, *_args: object) -> None:
        findings = self.source_kind() == FINDINGS
        self.source.setEnabled(not findings)
        self.browse.setEnabled(not findings)

    def _browse_source(self) -> None:
        if self.source_kind() == CSV:
            path, _ = QFileDialog.getOpenFileName(self, "CSV of path,label", self.source.text(),
                                                  "CSV (*.csv);;All files (*)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Labelled folder", self.source.text())
        if path:
            self.source.setText(path)

    def _browse_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Site profile", self.out.text(),
                                              "Site profile (*.json)")
        if path:
            self.out.setText(path)

    def argv(self, force: bool = False) -> list[str]:
        """The ``calibrate`` arguments the dialog stands for."""
        args = (["--from-reviews", "--db", str(self.w.session.storage.trail)]
                if self.source_kind() == FINDINGS else [self.source.text().strip()])
        args += ["--out", self.out.text().strip(), "--target-sensitivity",
                 f"{self.target.value():g}"]
        if self.w.bundle is not None:
            args += ["--model-dir", str(self.w.bundle.folder)]
        return args + (["--force"] if force else [])

    def start(self, *_args: object, force: bool | None = None) -> None:
        """Run the fit in a worker thread (progress on the bar, lines in the log)."""
        if self._worker is not None:
            return
        if force is None:
            force = False
            if Path(self.out.text().strip()).exists():
                answer = QMessageBox.question(self, "Replace the profile?",
                                              f"{self.out.text()} exists. Replace it?")
                if answer != QMessageBox.StandardButton.Yes:
                    return
                force = True
        self.code = None
        self.log_view.clear()
        self.import_button.setEnabled(False)
        self.run_button.setEnabled(False)
        self.progress.setRange(0, 0)  # busy until the first count
        self.progress.setTextVisible(True)
        out, err = _Lines(), _Lines()
        out.text.connect(self._on_text)
        err.text.connect(self._on_text)
        self._streams = (out, err)  # kept alive while the worker writes
        wk = workers.FunctionWorker(_run, self.argv(force), out, err)
        wk.signals.returned.connect(self._done)
        wk.signals.errored.connect(lambda e: self._done(None, e))
        self._worker = wk
        workers.start(wk)

    @property
    def running(self) -> bool:
        return self._worker is not None

    def _on_text(self, text: str) -> None:
        for m in _PROGRESS.finditer(text):
            done, total = int(m.group(1)), int(m.group(2))
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
        self.log_view.moveCursor(self.log_view.textCursor().MoveOperation.End)
        self.log_view.insertPlainText(text)

    def _done(self, code: object, error: object = None) -> None:
        self._worker = None
        self.run_button.setEnabled(True)
        self.progress.setRange(0, max(self.progress.maximum(), 1))
        self.code = code if isinstance(code, int) else None
        if error is not None:
            self._on_text(f"\nThe calibration failed: {error}\n")
        elif self.code == calibrate.EXIT_OK:
            self._on_text("\nDone. Check the report above, then import the profile to use "
                          "it.\n")
            self.import_button.setEnabled(True)
        else:
            self._on_text(f"\nNo profile was written (exit status {self.code}).\n")

    def _import(self) -> None:
        if site_actions.import_profile(self.w, self.out.text().strip()):
            self.import_button.setEnabled(False)
            self._on_text("Imported: the profile is in force for this user.\n")


def open_calibrate(w: MainWindow) -> CalibrateDialog:
    d = CalibrateDialog(w)
    d.open()
    w.calibrate_box = d
    return d
