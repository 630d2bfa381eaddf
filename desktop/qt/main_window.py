"""The main window: results table, preview, result panel and flagged-for-review list."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.audit import (
    AuditCheck,
    current_user,
    verify_file,
)
from desktop.jobs import Job, Preview, ResultRow, classify_job
from desktop.presentation import demographics_lines
from desktop.qt import (
    accessibility,
    columns,
    machine_actions,
    menus,
    site_actions,
    watch_actions,
    window_geometry,
)
from desktop.qt import worker as workers
from desktop.qt.batch_runner import BatchRunner
from desktop.qt.filter_bar import FilterBar, elide_left, install_column_menu
from desktop.qt.panels import FlaggedPanel, ResultPanel, row_height
from desktop.qt.preview_loader import PreviewLoader
from desktop.qt.review_actions import ReviewActions
from desktop.qt.table_models import DEMOGRAPHIC_HEADERS, ROW_ROLE, ResultTableModel, SortProxy
from desktop.qt.viewer import ImageViewer
from desktop.review_store import FlagEntry, archived_folders, entry_folder
from desktop.session import ReadingSession
from desktop.settings import Settings
from desktop.sqlite_util import StorageError
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.files import display_path
from pneumonia_core.imageio import IMAGE_SUFFIXES
from pneumonia_core.metadata import INTENDED_USE
from pneumonia_core.model import ModelBundle

log = logging.getLogger(__name__)

#: How often the window looks for review marks saved by other windows (ms).
REFRESH_MS = 5000


class MainWindow(ReviewActions, QMainWindow):
    #: The review list was updated after a change of operating point (see sync_review).
    review_synced = Signal()

    def __init__(self, bundle: ModelBundle | None, model_error: str = "",
                 settings: Settings | None = None, threshold: float | None = None) -> None:
        super().__init__()
        #: The reading session: operating point, rows, previews, review store (Qt-free);
        #: this window is its view and controller.
        self.session = ReadingSession(bundle, settings, threshold, model_error)
        self.bundle = bundle
        self.model_error = model_error
        self.settings = self.session.settings
        self.meta = self.session.meta
        storage = self.session.storage
        self.review_db = self.audit_db = storage.db
        self.store, self.audit = storage.store, storage.audit
        self.storage_error = storage.error
        self.machine = self.session.machine  # IT's machine settings (desktop.qt.machine_actions)
        self.shown_path: str | None = None
        #: Classification waits for the intended-use notice (set by desktop.qt.app).
        self.require_notice = False
        self.held_paths: list[str] = []
        #: Openings (batches) of this session: number of the last one, the ones queued,
        #: the one whose rows arrive now; flagged count of the run in progress.
        self._batch_seq = 0
        self._batch_queue: list[int] = []
        self.current_batch = 0
        self._run_active = False
        self._run_batches: set[int] = set()  # the batches of the run in progress or last run
        self._scroll_to_batch = False
        self._have_demographics = False  # a DICOM file with patient/study fields was opened
        #: The last finished run: (state, files done, files listed); the count line's flagged
        #: number is counted from the rows when shown, so it follows every re-decision.
        self._run_summary: tuple[str, int, int] | None = None
        self.audit_check: AuditCheck | None = None  # set by the start-up check (background)
        self.setWindowTitle("pneumonia-xray: chest X-ray triage aid")
        self.setAcceptDrops(True)
        self._build()
        self.runner = BatchRunner(self.review_db, self)
        self.runner.rows_ready.connect(self._on_rows)
        self.runner.progress.connect(self._on_progress)
        self.runner.started.connect(self._on_batch_started)
        self.runner.finished.connect(self._on_batch_finished)
        self.runner.errored.connect(self.show_error)
        self.previews = PreviewLoader(self.session, self)
        self.previews.ready.connect(self._on_preview)
        self.previews.loading.connect(self._on_preview_loading)
        self._sync_worker: workers.FunctionWorker | None = None
        #: This session's review decisions, newest last: (entry before, new state).
        self.undo_stack: list[tuple[FlagEntry, str]] = []
        self.reviewer = current_user()
        self.flagged.reviewer_label.setText(f"Reviewer: {self.reviewer}")
        menus.build(self)
        site_actions.install(self)
        machine_actions.install(self)
        watch_actions.install(self)  # Tools > Watch folder… (issue 25)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(  # not during a batch: its own saves change the file
            lambda: None if self.runner.running else self.refresh_flags_if_changed())
        self._refresh_timer.start()
        self._start_audit_check()
        self.flagged.model.set_entries(self.store.entries())
        self.flagged.set_archived(archived_folders(self.store))
        self.flagged.archive_button.clicked.connect(self.toggle_archive)
        if storage.read_only:  # the saved list is shown read-only: controls say why
            self.flagged.set_read_only(storage.refusal)
        for signal in (self.flagged.model.dataChanged, self.flagged.model.modelReset,
                       self.flagged.model.rowsInserted, self.flagged.model.rowsRemoved,
                       self.flagged.filter_bar.changed):
            signal.connect(self._update_count_line)
        demo_cols = set(range(4, 4 + len(DEMOGRAPHIC_HEADERS)))
        self._apply_result_columns = install_column_menu(
            self.table, self.settings.hidden_columns, self.settings.save,
            has_data=lambda c: c not in demo_cols or self._have_demographics)
        flag_demo = {c + 1 for c in demo_cols}
        self._apply_flag_columns = install_column_menu(
            self.flagged.view, self.settings.hidden_flag_columns, self.settings.save,
            has_data=lambda c: c not in flag_demo or bool(self.flagged.model.demographics))
        self._update_model_info()
        self.result_panel.show_row(None, self.point)
        accessibility.describe_main_window(self)  # names for screen readers
        self._restore_geometry()
        # The worklist keys (J/K, R/D) work from the first key press: focus starts on the
        # viewer (no text field, no list that would select its first row on focus), not on
        # the first search box, where J was typed.
        self.viewer.setFocus()

    @property
    def point(self) -> OperatingPoint:
        """The operating point in force (the session's; see desktop.operating_point)."""
        return self.session.point

    @property
    def threshold(self) -> float:
        return self.session.threshold

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
        if self.bundle is not None and not self.bundle.verified:
            v = self.bundle.verification
            problems.append(f"UNVERIFIED MODEL in {self.bundle.folder}: {v.reason}; folder "
                            f"digest {v.short}. Its results must not be relied on.")
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
        self.results = ResultTableModel(self, self.session.results)
        self.results_proxy = SortProxy(self.results, column=-1)
        self.table = QTableView()
        self.table.setModel(self.results_proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(row_height(self.table))
        self.table.setWordWrap(False)
        # File and folder names keep their distinguishing end ("…1951_bacteria_4882.jpeg").
        elide_left(self.table, (0, ResultTableModel.HEADERS.index("Folder")))
        hh = self.table.horizontalHeader()
        # Fixed widths: ResizeToContents would measure every row on each insert (slow).
        # The file name keeps a useful width; the last shown column takes what is left, and
        # more columns than fit scroll sideways instead of squeezing the name.
        hh.setStretchLastSection(True)
        columns.lay_out(self.table, ResultTableModel.HEADERS, columns.RESULT_COLUMNS)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.table.activated.connect(lambda _i: self.viewer.setFocus())
        self.table.setTabKeyNavigation(False)
        self.results_filter = FilterBar(self.results_proxy, [
            ("All results", None),
            ("Flagged", lambda r: r.flagged),
            ("Not flagged", lambda r: not r.flagged),
            ("Could not assess", lambda r: r.status not in ("ok", "pending")),
            ("Latest batch", lambda r: r.batch == self._batch_seq),
        ], placeholder="Search file, folder, patient…")
        ll.addWidget(self.results_filter)
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
        self.opacity_slider.setFixedWidth(90)
        self.opacity_slider.setToolTip("Heatmap opacity")
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        self.keep_display_check = QCheckBox("Keep W/L")
        self.keep_display_check.setToolTip(
            "On: window/level and invert carry over to the next film (the overlay says so).\n"
            "Off: every film opens with the full window, not inverted.")
        self.keep_display_check.setChecked(self.settings.keep_display_across_films)
        self.viewer.keep_display = self.settings.keep_display_across_films
        self.keep_display_check.toggled.connect(self.set_keep_display)
        self.contour_button = QToolButton()
        self.contour_button.setText("Contour")
        self.contour_button.setCheckable(True)
        self.contour_button.setToolTip("Outline the strongest heatmap region")
        self.contour_button.setEnabled(self.bundle is not None)
        self.contour_button.toggled.connect(self.viewer.set_heatmap_contour)
        self.heatmap_button.setToolTip("Heatmap of where the model looked (flagged films only; "
                                       "inferno colours, legend on the film)")
        tools.addWidget(self.heatmap_button)
        tools.addWidget(self.contour_button)
        tools.addWidget(QLabel("Opacity"))
        tools.addWidget(self.opacity_slider)
        tools.addWidget(self.keep_display_check)
        tools.addStretch(1)
        # Under the film, wrapped: at 1400x860 it was cut at the end of the tool row.
        self.hint_label = QLabel("Keys: ←/→ image · +/− zoom · = fit · I invert · 1–5 presets · "
                                 "0 reset · H heatmap · ? all keys")
        self.hint_label.setWordWrap(True)
        self.hint_label.setToolTip("All keys: Help > Keyboard shortcuts (?)")
        self.viewer.setToolTip("Wheel: zoom · left drag: pan · right drag: window/level · "
                               "double-click: fit")
        cl.addLayout(tools)
        cl.addWidget(self.viewer, 1)
        cl.addWidget(self.hint_label)
        split.addWidget(centre)
        # right: result + flagged list
        right = QSplitter(Qt.Orientation.Vertical)
        self.result_panel = ResultPanel()
        self.flagged = FlaggedPanel()
        self.flagged.review_requested.connect(self.set_review)
        self.flagged.entry_selected.connect(lambda e: self.show_path(e.open_path))
        self.flagged.entry_activated.connect(lambda e: self.show_path(e.open_path))
        self.flagged.export_requested.connect(self.export_flagged_dialog)
        # In a scroll area: a long message can never squeeze the panel into overprinting.
        self.result_scroll = QScrollArea()
        self.result_scroll.setWidgetResizable(True)
        self.result_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.result_scroll.setWidget(self.result_panel)
        self.result_panel.changed.connect(lambda: QTimer.singleShot(0, self.fit_result_area))
        right.addWidget(self.result_scroll)
        right.addWidget(self.flagged)
        right.setSizes([210, 600])
        self.right_split = right  # the result part is fitted to its text when shown
        split.addWidget(right)
        # The side columns as wide as their first table columns (desktop.qt.columns), so
        # that none of those is cut; the viewer takes the rest.
        left_w = columns.fitting_width(self.table, len(columns.RESULT_COLUMNS))
        right_w = columns.fitting_width(self.flagged.view, len(columns.WORKLIST_COLUMNS) - 1)
        split.setSizes([left_w, max(300, 1400 - left_w - right_w), right_w])
        split.setStretchFactor(1, 1)
        outer.addWidget(split, 1)
        use = self.meta.intended_use if self.meta else INTENDED_USE
        self.intended_use_label = QLabel(f"Intended use: {use}")
        self.intended_use_label.setWordWrap(True)
        self._style_intended_use()
        outer.addWidget(self.intended_use_label)
        self.setCentralWidget(central)
        self.resize(1400, 860)

    def _style_intended_use(self) -> None:
        dark = self.settings.dark_theme
        self.intended_use_label.setStyleSheet(
            "background:#3d3200; color:#f0e6b0; padding:4px;" if dark
            else "background:#fff4ce; color:#333; padding:4px;")

    def set_dark_theme(self, dark: bool) -> None:
        """Dark reading-room theme (or the platform's); remembered in the settings."""
        from desktop.qt import table_models, theme

        self.settings.dark_theme = bool(dark)
        self.settings.save()
        theme.apply_theme(bool(dark))
        table_models.set_dark(bool(dark))
        self._style_intended_use()
        self.result_panel.show_row(self.current_row(), self.point)  # colours for the theme
        if getattr(self, "dark_action", None) is not None and self.dark_action.isChecked() != dark:
            self.dark_action.setChecked(dark)
        self.update()

    def set_keep_display(self, keep: bool) -> None:
        """Whether window/level and invert carry over to the next film (remembered)."""
        self.settings.keep_display_across_films = bool(keep)
        self.settings.save()
        self.viewer.keep_display = bool(keep)
        if self.keep_display_check.isChecked() != keep:
            self.keep_display_check.setChecked(keep)
        self.viewer.update()

    def fit_result_area(self) -> None:
        """Give the result panel the height its text needs at its width (the model and
        operating-point lines were cut at 1400x860), at most half the column. It only
        grows (a shorter text leaves it as it is: the worklist below does not jump)."""
        sizes = self.right_split.sizes()
        total = sum(sizes)
        if total <= 0 or not self.isVisible():
            return
        width = self.result_scroll.viewport().width()
        need = self.result_panel.heightForWidth(width)
        need = max(need, self.result_panel.minimumSizeHint().height()) + 2
        first = min(need, total // 2)
        if first > sizes[0]:
            self.right_split.setSizes([first, total - first])

    def showEvent(self, event: object) -> None:  # noqa: N802
        super().showEvent(event)
        QTimer.singleShot(0, self.fit_result_area)

    def _start_audit_check(self) -> None:
        """Verify the audit trail's hash chain and triggers in the background (a large trail
        takes seconds); a broken trail is announced in the banner and the log."""
        w = workers.FunctionWorker(verify_file, self.session.storage.trail)
        w.signals.returned.connect(self._on_audit_check)
        w.signals.errored.connect(lambda e: self._on_audit_check(
            AuditCheck(0, [f"the audit trail cannot be read: {e}"])))
        self._audit_worker = w
        workers.start(w)

    def _on_audit_check(self, check: AuditCheck) -> None:
        self.audit_check = check
        if check.ok:
            log.info("%s", check.summary())
            return
        log.error("%s", check.summary())
        text = check.summary() + " (Tools > Verify audit trail)"
        try:
            lines = [t for t in self.banner.text().split("\n")
                     if t and "AUDIT TRAIL TAMPERED" not in t]
            self.banner.setText("\n".join([*lines, text]))
            self.banner.setVisible(True)
        except RuntimeError:  # the window was closed before the check finished
            pass

    def _update_model_info(self) -> None:
        if self.meta is None:
            self.result_panel.set_model_info("No model loaded.")
            return
        m = self.meta
        state = "verified" if self.bundle is not None and self.bundle.verified else "UNVERIFIED"
        self.result_panel.set_model_info(
            f"Model {m.name} {m.version} · SHA-256 {m.sha256[:12]}… ({state})\n"
            + self.session.resolution.status_line() + "\n" + machine_actions.describe(self))

    # -- opening ---------------------------------------------------------------------------
    def open_paths(self, paths_: list[str], job: Job = classify_job, label: str = "") -> None:
        """Classify files and folders (recursively) in the background; held back until the
        intended-use notice is confirmed when it is required (:attr:`require_notice`), and
        refused, with the cause, while the data file cannot take the results (deleted or
        replaced). ``job`` and ``label``: the watch folder's (desktop.qt.watch_actions)."""
        paths_ = [str(p) for p in paths_ if str(p)]
        if not paths_:
            return
        if self.require_notice and not self.settings.first_start_acknowledged:
            self.held_paths.extend(paths_)
            self.count_label.setText(f"{len(self.held_paths)} item(s) waiting: confirm the "
                                     "intended-use notice to start")
            menus.first_start_dialog(self)
            return
        try:
            self.store.check_present()
        except StorageError as exc:
            self.count_label.setText(f"Stopped: {exc}")
            self.show_error(f"Classification not started: {exc}")
            return
        self._batch_seq += 1
        names = label or ", ".join(Path(p).name or p for p in paths_[:2]) + (
            f" +{len(paths_) - 2}" if len(paths_) > 2 else "")
        self.results.batch_labels[self._batch_seq] = (
            f"{self._batch_seq} · {names} · {datetime.now().strftime('%H:%M')}")
        self._batch_queue.append(self._batch_seq)
        self.runner.start(paths_, self.bundle, self.point, job)

    def release_held_paths(self) -> None:
        """The notice was confirmed: classify what was opened meanwhile."""
        held, self.held_paths = self.held_paths, []
        if held:
            self.count_label.setText("Starting…")
            self.open_paths(held)

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
        self._set_shown(None)
        self.result_panel.show_row(None, self.point)
        self.progress.setValue(0)
        self._run_summary = None
        self.count_label.setText("No images")

    def cancel_batch(self) -> None:
        """Esc: stop the running classification; does nothing (and says so) when none runs."""
        if not self.runner.running:
            self.statusBar().showMessage("No classification is running", 3000)
            return
        self.runner.cancel()
        self.count_label.setText("Cancelling…")

    def _on_batch_started(self) -> None:
        """A job (one opening) starts: its rows get its batch number and label."""
        self.cancel_button.setEnabled(True)
        if not self._run_active:  # a new run (queued openings continue the same run)
            self._run_active = True
            self._run_batches = set()
        if self._batch_queue:
            self.current_batch = self._batch_queue.pop(0)
        self._run_batches.add(self.current_batch)
        self._scroll_to_batch = True

    def _on_rows(self, rows: list[ResultRow], flags: list[FlagEntry]) -> None:
        for r in rows:
            r.batch = self.current_batch
        first_new = self.results.rowCount()
        late = self.session.redecide(rows)  # a batch started before a change of point
        self.results.append_rows(rows)
        if late:
            self.sync_review(late, None)
        demo = {display_path(r.path): r.demographics for r in rows if r.demographics}
        if demo:
            self.flagged.model.set_demographics(demo)
            if not self._have_demographics:  # show the DICOM columns now that they have data
                self._have_demographics = True
                self._apply_result_columns()
            self._apply_flag_columns()
        if flags:
            self.flagged.model.upsert(flags)
        if not self.table.currentIndex().isValid() and self.results_proxy.rowCount():
            self.table.setCurrentIndex(self.results_proxy.index(0, 0))
            # the film chosen for the reader: replaced by the worklist's top at the end
            self._auto_shown = getattr(self.current_row(), "path", None)
        if self._scroll_to_batch and first_new < self.results.rowCount():
            # Show where the new batch begins (rows are appended at the end).
            idx = self.results_proxy.mapFromSource(self.results.index(first_new, 0))
            if idx.isValid():
                self.table.scrollTo(idx, QAbstractItemView.ScrollHint.PositionAtTop)
                self._scroll_to_batch = False

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        if self.bundle is None:
            self.count_label.setText(f"This batch: {done} of {total} listed "
                                     "(no model: not classified)")
            return
        flagged = self.session.results.counts(self._run_batches).flagged
        self.count_label.setText(f"This batch: {done} of {total} classified, "
                                 f"{flagged} flagged")

    def _on_batch_finished(self, cancelled: bool) -> None:
        self.cancel_button.setEnabled(False)
        self._run_active = False
        self._batch_queue.clear()
        state = "Cancelled" if cancelled else "Done"
        if self.runner.error:
            state = f"Stopped: {self.runner.error}"
        if self.bundle is None:
            self.count_label.setText(
                f"{state}: {self.runner.done} of {self.runner.total} file(s) listed, none "
                "classified: no model loaded")
            self.statusBar().showMessage(self.count_label.text(), 10000)
            return
        self._run_summary = (state, self.runner.done, self.runner.total)
        self._update_count_line()
        self._show_worklist_top()
        self.statusBar().showMessage(self.count_label.text(), 10000)

    def _update_count_line(self, *args: object) -> None:
        """'Done: this batch 16 of 16 classified, 9 flagged · worklist: 23 pending'; the
        worklist part follows every mark."""
        if self._run_summary is None or self.runner.running:
            return
        state, done, total = self._run_summary
        flagged = self.session.results.counts(self._run_batches).flagged
        pending = sum(1 for e in self.flagged.model.entries() if e.review_state == "pending"
                      and entry_folder(e) not in self.flagged.archived)
        self.count_label.setText(f"{state}: this batch {done} of {total} classified, "
                                 f"{flagged} flagged · worklist: {pending} pending")

    def _show_worklist_top(self) -> None:
        """After a run: where the window chose the film shown (the first file in input
        order) and the reader has not chosen another since, show the top of the worklist
        among this run's films instead: the film to read first."""
        auto, self._auto_shown = getattr(self, "_auto_shown", None), None
        if auto is None or getattr(self.current_row(), "path", None) != auto:
            return  # the reader chose another film meanwhile
        runs = self._run_batches
        for r in range(self.flagged.proxy.rowCount()):
            e = self.flagged.proxy.index(r, 0).data(ROW_ROLE)
            i = self.results.row_of(e.open_path) if e is not None else None
            if (e is not None and e.review_state == "pending" and i is not None
                    and self.results.row_at(i).batch in runs):
                self.flagged.select_key(e.key)
                return

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
        """Show ``path``'s film: select its results row, or (a flagged entry of an earlier
        session) load it directly."""
        src = self.results.row_of(path)
        if src is not None:
            idx = self.results_proxy.mapFromSource(self.results.index(src, 0))
            if idx.isValid():
                if idx != self.table.currentIndex():
                    self.table.setCurrentIndex(idx)
                    self.table.scrollTo(idx)
                elif self.shown_path != display_path(path):
                    self.previews.request(path)
                return
        entry = next((e for e in self.flagged.model.entries() if e.open_path == path), None)
        row = ResultRow(path, entry.status, entry.probability, entry.prediction, entry.message,
                        entry.file_sha256, entry.threshold, True) if entry else None
        self.result_panel.show_row(row, self.point)
        self._set_shown(None)
        self.previews.request(path)

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = current.data(ROW_ROLE) if current.isValid() else None
        self.result_panel.show_row(row, self.point)
        if row is not None:
            self.flagged.select_path(display_path(row.path))
            if self.shown_path == display_path(row.path):  # e.g. after a threshold change
                self.viewer.heatmap_allowed = row.flagged
                self.viewer.update()
            if self.shown_path != display_path(row.path):
                self._set_shown(None)
                self.previews.request(row.path)

    def _film_flagged(self, path: str) -> bool:
        """Whether the film is flagged now (its results row, else its review entry): the
        heatmap is shown for flagged films only."""
        i = self.results.row_of(path)
        if i is not None:
            return self.results.row_at(i).flagged
        shown = display_path(path)
        return any(e.path == shown for e in self.flagged.model.entries())

    def _set_shown(self, path: str | None) -> None:
        """Record which film is on screen (None: none, or one is loading); the review
        actions are enabled only for the entry of this film."""
        self.shown_path = path
        self.flagged.set_shown_path(path)

    def _on_preview_loading(self, path: str) -> None:
        # Never leave the previous film on screen while another one is selected.
        self._set_shown(None)
        self.viewer.set_image(None, None, f"Loading {Path(path).name}…")

    def _on_preview(self, preview: Preview) -> None:
        if preview.pixels is None:
            self.viewer.set_image(None, None, f"Cannot show {preview.path}:\n{preview.error}")
        else:
            self.viewer.set_image(preview.pixels, preview.cam,
                                  value_range=preview.display_range,
                                  info_lines=demographics_lines(preview.dicom),
                                  heatmap_allowed=self._film_flagged(preview.path))
        self._set_shown(display_path(preview.path))

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
        window_geometry.clamp_to_screen(self)  # saved at another scale or on another screen

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.refresh_flags_if_changed()  # another window may have marked meanwhile
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self._refresh_timer.stop()
        self.runner.cancel()
        self.runner.wait(10000)
        self.previews.wait(5000)
        self.settings.window_geometry = bytes(self.saveGeometry().toBase64()).decode()
        self.settings.save()
        self.session.close()
        super().closeEvent(event)

    def keys(self) -> dict[str, QKeySequence]:  # for the help text and tests
        return {a.text(): a.shortcut() for a in self.findChildren(QAction) if not a.shortcut().isEmpty()}

