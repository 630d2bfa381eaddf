"""The main window: results table, preview, result panel and flagged-for-review list."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QModelIndex, Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop import menus, paths
from desktop import worker as workers
from desktop.audit import AuditError, AuditLog
from desktop.batch_runner import BatchRunner
from desktop.jobs import Preview, ResultRow
from desktop.panels import FlaggedPanel, ResultPanel
from desktop.preview_loader import PreviewLoader
from desktop.review_actions import ReviewActions
from desktop.review_store import FlagEntry, ReviewStore, ReviewStoreError
from desktop.settings import Settings
from desktop.table_models import ROW_ROLE, ResultTableModel, SortProxy
from desktop.viewer import ImageViewer
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.imageio import IMAGE_SUFFIXES
from pneumonia_core.metadata import INTENDED_USE
from pneumonia_core.model import ModelBundle

log = logging.getLogger(__name__)


class MainWindow(ReviewActions, QMainWindow):
    def __init__(self, bundle: ModelBundle | None, model_error: str = "",
                 settings: Settings | None = None) -> None:
        super().__init__()
        self.bundle = bundle
        self.model_error = model_error
        self.settings = settings or Settings.load()
        self.meta = bundle.metadata if bundle is not None else None
        self.model_point = (bundle.operating_point if bundle is not None
                            else OperatingPoint.fallback())
        self.model_threshold = self.model_point.threshold
        self.threshold = self.settings.threshold(self.model_threshold)
        self.storage_error = ""
        try:
            self.review_db, self.audit_db = paths.review_db_path(), paths.audit_db_path()
            self.store, self.audit = ReviewStore(self.review_db), AuditLog(self.audit_db)
        except (OSError, ReviewStoreError, AuditError) as exc:  # read-only or full disk
            import tempfile

            tmp = Path(tempfile.mkdtemp(prefix="pneumonia-xray-"))
            self.storage_error = (f"{exc} The review list and audit log are kept in {tmp} "
                                  "for this session only.")
            log.error("%s", self.storage_error)
            self.review_db, self.audit_db = tmp / "review.sqlite3", tmp / "audit.sqlite3"
            self.store, self.audit = ReviewStore(self.review_db), AuditLog(self.audit_db)
        self.setWindowTitle("pneumonia-xray: chest X-ray triage aid")
        self.setAcceptDrops(True)
        self._build()
        self.runner = BatchRunner(self.review_db, self.audit_db, self)
        self.runner.rows_ready.connect(self._on_rows)
        self.runner.progress.connect(self._on_progress)
        self.runner.started.connect(self._on_batch_started)
        self.runner.finished.connect(self._on_batch_finished)
        self.runner.errored.connect(self.show_error)
        self.previews = PreviewLoader(self)
        self.previews.bundle, self.previews.point = bundle, self.point
        self.previews.ready.connect(self._on_preview)
        self.previews.loading.connect(lambda p: self.viewer.set_message(f"Loading {p}…"))
        self._sync_worker: workers.FunctionWorker | None = None
        menus.build(self)
        self.flagged.model.set_entries(self.store.entries())
        self._update_model_info()
        self._restore_geometry()

    @property
    def point(self) -> OperatingPoint:
        """The operating point in force: the model's, at the user's threshold if overridden."""
        if self.settings.threshold_override is None:
            return self.model_point.with_threshold(self.threshold, source=self.model_point.source,
                                                   description=self.model_point.description)
        return self.model_point.with_threshold(self.threshold, source="your setting")

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(4, 4, 4, 4)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background:#b3261e; color:white; padding:6px; font-weight:bold;")
        problems = []
        if self.bundle is None:
            problems.append("The model could not be loaded, so images can be viewed but NOT "
                            f"classified. {self.model_error}")
        if self.storage_error:
            problems.append(self.storage_error)
        self.banner.setVisible(bool(problems))
        self.banner.setText("\n".join(problems))
        outer.addWidget(self.banner)
        split = QSplitter(Qt.Orientation.Horizontal)
        # left: results
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.results = ResultTableModel(self)
        self.results_proxy = SortProxy(self.results, column=-1)
        self.table = QTableView()
        self.table.setModel(self.results_proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        hh = self.table.horizontalHeader()
        # Fixed widths: ResizeToContents would measure every row on each insert (slow).
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c, width in ((1, 86), (2, 92), (3, 84)):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
            hh.resizeSection(c, width)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.table.activated.connect(lambda _i: self.viewer.setFocus())
        ll.addWidget(self.table, 1)
        prog = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        self.count_label = QLabel("No images")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_batch)
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.cancel_button)
        ll.addLayout(prog)
        ll.addWidget(self.count_label)
        split.addWidget(left)
        # centre: viewer and its tools
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        self.viewer = ImageViewer()
        self.viewer.heatmap_opacity = self.settings.heatmap_opacity
        tools = QHBoxLayout()
        self.heatmap_button = QToolButton()
        self.heatmap_button.setText("Heatmap (H)")
        self.heatmap_button.setCheckable(True)
        self.heatmap_button.setEnabled(self.bundle is not None)
        self.heatmap_button.toggled.connect(self.set_heatmap)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(self.settings.heatmap_opacity * 100))
        self.opacity_slider.setFixedWidth(130)
        self.opacity_slider.setToolTip("Heatmap opacity")
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        tools.addWidget(self.heatmap_button)
        tools.addWidget(QLabel("Opacity"))
        tools.addWidget(self.opacity_slider)
        tools.addStretch(1)
        self.hint_label = QLabel("Keys: ←/→ +/− = I 1–5 0 H")
        self.hint_label.setToolTip("←/→ previous/next image · +/− zoom · = fit · I invert · "
                                   "1–5 window/level presets · 0 reset · H heatmap "
                                   "(all in the View menu)")
        self.hint_label.setStyleSheet("color:#666;")
        self.hint_label.setMinimumWidth(10)  # may be clipped, never squeezes the tools
        self.viewer.setToolTip("Wheel: zoom · left drag: pan · right drag: window/level · "
                               "double-click: fit")
        tools.addWidget(self.hint_label)
        cl.addLayout(tools)
        cl.addWidget(self.viewer, 1)
        split.addWidget(centre)
        # right: result + flagged list
        right = QSplitter(Qt.Orientation.Vertical)
        self.result_panel = ResultPanel()
        self.flagged = FlaggedPanel()
        self.flagged.review_requested.connect(self.set_review)
        self.flagged.entry_activated.connect(lambda e: self.show_path(e.path))
        self.flagged.export_requested.connect(self.export_flagged_dialog)
        right.addWidget(self.result_panel)
        right.addWidget(self.flagged)
        right.setSizes([210, 600])
        split.addWidget(right)
        split.setSizes([440, 560, 470])
        split.setStretchFactor(1, 1)
        outer.addWidget(split, 1)
        use = self.meta.intended_use if self.meta else INTENDED_USE
        self.intended_use_label = QLabel(f"Intended use: {use}")
        self.intended_use_label.setWordWrap(True)
        self.intended_use_label.setStyleSheet("background:#fff4ce; color:#333; padding:4px;")
        outer.addWidget(self.intended_use_label)
        self.setCentralWidget(central)
        self.resize(1400, 860)

    def _update_model_info(self) -> None:
        if self.meta is None:
            self.result_panel.set_model_info("No model loaded.")
            return
        m = self.meta
        self.result_panel.set_model_info(
            f"Model {m.name} {m.version} · SHA-256 {m.sha256[:12]}… · "
            f"threshold {self.threshold:.3f} ({self.point.source})")

    # -- opening ---------------------------------------------------------------------------
    def open_paths(self, paths_: list[str]) -> None:
        """Classify files and folders (recursively) in the background."""
        paths_ = [str(p) for p in paths_ if str(p)]
        if paths_:
            self.runner.start(paths_, self.bundle, self.point)

    def open_files_dialog(self) -> None:
        pattern = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open X-ray images", self.settings.last_folder,
            f"Images and DICOM ({pattern});;All files (*)")
        if files:
            self.settings.last_folder = str(Path(files[0]).parent)
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder", self.settings.last_folder)
        if folder:
            self.settings.last_folder = folder
            self.open_paths([folder])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        local = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if local:
            event.acceptProposedAction()
            self.open_paths(local)

    # -- batch -----------------------------------------------------------------------------
    def clear_results(self) -> None:
        """Empty the results table (the review list and audit log are kept)."""
        self.runner.discard()
        self.results.clear()
        self.previews.clear()
        self.viewer.set_image(None, None, "Results cleared. The flagged list is kept.")
        self.result_panel.show_row(None, self.point)
        self.progress.setValue(0)
        self.count_label.setText("No images")

    def cancel_batch(self) -> None:
        self.runner.cancel()
        self.count_label.setText("Cancelling…")

    def _on_batch_started(self) -> None:
        self.cancel_button.setEnabled(True)

    def _on_rows(self, rows: list[ResultRow], flags: list[FlagEntry]) -> None:
        self.results.append_rows(rows)
        if flags:
            self.flagged.model.upsert(flags)
        if not self.table.currentIndex().isValid() and self.results_proxy.rowCount():
            self.table.setCurrentIndex(self.results_proxy.index(0, 0))

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.count_label.setText(f"{done} of {total} classified")

    def _on_batch_finished(self, cancelled: bool) -> None:
        self.cancel_button.setEnabled(False)
        rows = self.results.rows()
        flagged = sum(1 for r in rows if r.flagged)
        state = "Cancelled" if cancelled else "Done"
        self.count_label.setText(f"{state}: {self.runner.done} of {self.runner.total} "
                                 f"classified, {flagged} flagged")
        self.statusBar().showMessage(self.count_label.text(), 10000)

    # -- navigation and preview ------------------------------------------------------------
    def current_row(self) -> ResultRow | None:
        idx = self.table.currentIndex()
        return idx.data(ROW_ROLE) if idx.isValid() else None

    def step(self, delta: int) -> None:
        """Next (+1) or previous (-1) image in the table's order."""
        n = self.results_proxy.rowCount()
        if n == 0:
            return
        cur = self.table.currentIndex()
        r = 0 if not cur.isValid() else min(max(cur.row() + delta, 0), n - 1)
        self.table.setCurrentIndex(self.results_proxy.index(r, 0))

    def show_path(self, path: str) -> None:
        src = self.results.row_of(path)
        if src is not None:
            idx = self.results_proxy.mapFromSource(self.results.index(src, 0))
            self.table.setCurrentIndex(idx)
            return
        entry = next((e for e in self.flagged.model.entries() if e.path == path), None)
        row = ResultRow(path, entry.status, entry.probability, entry.prediction, entry.message,
                        entry.file_sha256, entry.threshold, True) if entry else None
        self.result_panel.show_row(row, self.point)
        self.previews.request(path)

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = current.data(ROW_ROLE) if current.isValid() else None
        self.result_panel.show_row(row, self.point)
        if row is not None:
            self.previews.request(row.path)

    def _on_preview(self, preview: Preview) -> None:
        if preview.pixels is None:
            self.viewer.set_image(None, None, f"Cannot show {preview.path}:\n{preview.error}")
        else:
            self.viewer.set_image(preview.pixels, preview.cam)

    def set_heatmap(self, visible: bool) -> None:
        if self.heatmap_button.isChecked() != visible:
            self.heatmap_button.setChecked(visible)  # re-enters through toggled
            return
        self.viewer.set_heatmap_visible(visible)

    def _on_opacity(self, value: int) -> None:
        self.settings.heatmap_opacity = value / 100.0
        self.viewer.set_heatmap_opacity(value / 100.0)

    # -- errors, geometry, close -----------------------------------------------------------
    def show_error(self, message: str) -> None:
        log.error("%s", message)
        self.statusBar().showMessage(message, 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, "pneumonia-xray", message, parent=self)
        box.setModal(False)
        box.show()

    def _restore_geometry(self) -> None:
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode()))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.runner.cancel()
        self.runner.wait(10000)
        self.previews.wait(5000)
        self.settings.window_geometry = bytes(self.saveGeometry().toBase64()).decode()
        self.settings.save()
        self.store.close()
        self.audit.close()
        super().closeEvent(event)

    def keys(self) -> dict[str, QKeySequence]:  # for the help text and tests
        return {a.text(): a.shortcut() for a in self.findChildren(QAction) if not a.shortcut().isEmpty()}

