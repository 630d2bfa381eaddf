"""Tools > Watch folder… (issue 25): the window classifies the films that appear in a folder
(a PACS export or scanner drop folder, sub-folders too), each once, and says so.

The rules (complete files only, each once, resumed after a restart) are Qt-free in
:mod:`desktop.watch`. Here a timer asks for a scan every :data:`desktop.watch.POLL_S` s on a
thread of its own (a network share may be slow to list; the window never waits for it), only
while no classification runs; the complete new files go through the window's own batch
machinery (:meth:`MainWindow.open_paths` with :func:`desktop.watch.watch_job`): classified off
the GUI thread, shown in the results table, flagged ones on the worklist. A permanent status-bar
line says what is watched and how many were classified and flagged; new flagged films are
announced in the status bar (and the taskbar entry is flashed when the window is in the
background). The folder is kept in the settings and watched again at the next start. Cancel
(Esc) during a watch batch stops the watch too.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QThreadPool, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QToolButton

from desktop.audit import AuditEvent
from desktop.jobs import ResultRow
from desktop.qt import worker as workers
from desktop.sqlite_util import StorageError
from desktop.watch import (
    POLL_S,
    SETTLE_S,
    FolderWatcher,
    WatchedFile,
    WatchState,
    state_path,
    watch_job,
)

if TYPE_CHECKING:
    from desktop.qt.main_window import MainWindow

log = logging.getLogger(__name__)

class FolderWatch(QObject):
    """The window's watch folder (one at a time)."""

    def __init__(self, w: MainWindow, settle_s: float = SETTLE_S,
                 poll_ms: int = int(POLL_S * 1000)) -> None:
        super().__init__(w)
        self.w = w
        self.settle_s = settle_s
        self.folder = ""
        self.state_file = Path()
        self.watcher: FolderWatcher | None = None  # lives on the scan thread (its SQLite)
        #: One thread that never expires: the watcher's state connection stays on it.
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.pool.setExpiryTimeout(-1)
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self._tick)
        self._scanning = False
        self._own_run = False  # the batch running now is the watch's
        self._new_flagged: list[str] = []  # names flagged in the batch running now
        self.batches: set[int] = set()
        self.classified = 0
        self.flagged = 0
        self.waiting = 0
        self.problem = ""
        self.label = QLabel()
        self.label.setAccessibleName("Watch folder status")
        self.stop_button = QToolButton()
        self.stop_button.setText("Stop watching")
        self.stop_button.clicked.connect(self.stop)
        for widget in (self.label, self.stop_button):
            widget.setVisible(False)
            w.statusBar().addPermanentWidget(widget)
        w.runner.rows_ready.connect(self._on_rows)
        w.runner.finished.connect(self._on_finished)
        w.installEventFilter(self)

    @property
    def active(self) -> bool:
        return bool(self.folder)

    # -- start / stop ------------------------------------------------------------------
    def start(self, folder: str) -> bool:
        """Watch ``folder``; False (and the reason shown) when it cannot be watched."""
        w = self.w
        why = ""
        if w.bundle is None:
            why = "no model is loaded, so nothing can be classified"
        elif w.session.storage.read_only:
            why = w.session.storage.refusal
        elif not Path(folder).is_dir():
            why = f"{folder} is not a folder that can be reached"
        elif w.require_notice and not w.settings.first_start_acknowledged:
            why = "confirm the intended-use notice first"
        if why:
            w.show_error(f"The folder cannot be watched: {why}.")
            return False
        self.stop(quietly=True)
        self.folder = os.path.abspath(folder)  # as FolderWatcher keeps it
        self.state_file = state_path(Path(w.review_db).parent)  # beside the data file in use
        self.classified = self.flagged = self.waiting = 0
        self.problem = ""
        w.settings.watch_folder = self.folder
        w.settings.save()
        self._audit("watch:start", f"watching {self.folder} (sub-folders too); a file is read "
                    f"once unchanged for {self.settle_s:g} s")
        self.timer.start()
        self._show()
        QTimer.singleShot(0, self._tick)
        log.info("watching %s", self.folder)
        return True

    def stop(self, quietly: bool = False, note: str = "") -> None:
        """Stop watching (the batch in progress finishes; the folder is no longer saved)."""
        if not self.folder:
            return
        folder, self.folder = self.folder, ""
        self.timer.stop()
        self._close_state()
        if not quietly:
            self.w.settings.watch_folder = ""
            self.w.settings.save()
        text = (f"Stopped watching {folder}: {self.classified} classified, {self.flagged} "
                f"flagged" + (f" ({note})" if note else ""))
        self._audit("watch:stop", text)
        self.label.setVisible(False)
        self.stop_button.setVisible(False)
        self.w.statusBar().showMessage(text, 15000)
        log.info("%s", text)

    def _audit(self, action: str, note: str) -> None:
        try:
            self.w.session.storage.audit.append(AuditEvent(
                action=action, path=self.folder, model_sha256=self.w.session.model_sha256,
                threshold=self.w.threshold, note=note))
        except StorageError as exc:
            self.w.show_error(f"Audit trail not written: {exc}")

    def _close_state(self) -> None:
        """Close the watcher's state file on the scan thread, after any scan in flight."""
        workers.start(workers.FunctionWorker(self._drop_watcher), self.pool)

    def _drop_watcher(self) -> None:
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher.state.close()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        """The window closes: stop scanning (the folder stays saved: watched at next start)."""
        if obj is self.w and event.type() == QEvent.Type.Close and self.folder:
            self.timer.stop()
            self._close_state()
            self.pool.waitForDone(10000)
        return False

    # -- scanning (off the GUI thread) --------------------------------------------------
    def _scan(self, folder: str, state_file: Path, data_file: Path) -> list[WatchedFile]:
        """On the scan thread: one poll (the watcher and its state are made on first use)."""
        if self.watcher is None or self.watcher.folder != folder:
            self._drop_watcher()
            state = WatchState(state_file)
            state.reconcile(data_file)
            self.watcher = FolderWatcher(folder, state, settle_s=self.settle_s)
        return self.watcher.poll()

    def _tick(self) -> None:
        if not self.folder or self._scanning or self.w.runner.running:
            return
        self._scanning = True
        job = workers.FunctionWorker(self._scan, self.folder, self.state_file, self.w.review_db)
        job.signals.returned.connect(functools.partial(self._on_scanned, self.folder))
        job.signals.errored.connect(self._on_scan_error)
        job.signals.finished.connect(self._scan_done)
        workers.start(job, self.pool)

    def _scan_done(self) -> None:
        self._scanning = False

    def _on_scan_error(self, exc: object) -> None:
        self.stop(note=f"the watch could not go on: {exc}")
        self.w.show_error(f"Watch folder stopped: {exc}")

    def _on_scanned(self, folder: str, files: list[WatchedFile]) -> None:
        if folder != self.folder:  # stopped or changed meanwhile
            return
        watcher = self.watcher
        if watcher is not None:
            self.waiting, self.problem = watcher.waiting, watcher.problem
        self._show()
        if not files or self.w.runner.running:
            return  # not handed to a job: the next scan offers them again
        self._own_run = True
        self.w.open_paths([f.fs_path for f in files],
                          job=functools.partial(watch_job, files=files,
                                                state_file=self.state_file),
                          label=f"watch {Path(folder).name} ({len(files)} new)")
        self.batches.add(self.w._batch_seq)
        if not self.w.runner.running:  # refused (the data file is gone): said by the window
            self._own_run = False
            self.stop(note="the results could not be saved")

    # -- results -----------------------------------------------------------------------
    def _on_rows(self, rows: list[ResultRow], _flags: list) -> None:
        mine = [r for r in rows if r.batch in self.batches]
        if not mine:
            return
        self.classified += len(mine)
        new = [r for r in mine if r.flagged]
        self.flagged += len(new)
        self._new_flagged += [Path(r.path).name for r in new]
        self._show()

    def _on_finished(self, cancelled: bool) -> None:
        """After the window's own "Done" line (connected before this): the new flagged films
        of the batch, in the status bar, and the taskbar entry flashed in the background."""
        own, self._own_run = self._own_run, False
        new, self._new_flagged = self._new_flagged, []
        if new:  # short: the permanent widgets share the status bar
            names = new[0] + (f" +{len(new) - 1}" if len(new) > 1 else "")
            self.w.statusBar().showMessage(
                f"Watch folder: {len(new)} new flagged on the worklist: {names}", 30000)
            QApplication.alert(self.w)
        if own and cancelled and self.folder:
            self.stop(note="Cancel pressed; Tools > Watch folder… to resume")

    def _show(self) -> None:
        if not self.folder:
            return
        text = (f"Watching {Path(self.folder).name or self.folder}: {self.classified} "
                f"classified, {self.flagged} flagged")
        if self.waiting:
            text += f", {self.waiting} arriving"
        if self.problem:
            text += f" · {self.problem}, retrying"
        self.label.setText(text)
        self.label.setToolTip(f"{self.folder} and its sub-folders: each film is classified "
                              f"once it stayed unchanged for {self.settle_s:g} s")
        self.label.setVisible(True)
        self.stop_button.setVisible(True)


def choose_folder(w: MainWindow) -> None:
    """Tools > Watch folder…"""
    start = w.watch.folder or w.settings.watch_folder or w.settings.last_folder
    folder = QFileDialog.getExistingDirectory(w, "Watch folder (classify films as they arrive)",
                                              start)
    if folder:
        w.watch.start(folder)


def install(w: MainWindow) -> FolderWatch:
    """Tools > Watch folder… and Stop watching; watch the saved folder again (after start)."""
    w.watch = FolderWatch(w)
    tools = next((a.menu() for a in w.menuBar().actions() if a.text() == "&Tools"), None)
    tools = tools or w.menuBar().addMenu("&Tools")
    tools.addSeparator()
    for text, slot in (("Watch folder…", lambda: choose_folder(w)),
                       ("Stop watching folder", lambda: w.watch.stop())):
        action = QAction(text, w)
        action.triggered.connect(slot)
        tools.addAction(action)
    saved = w.settings.watch_folder
    if saved:
        QTimer.singleShot(0, lambda: _resume(w, saved))
    return w.watch


def _resume(w: MainWindow, folder: str) -> None:
    if w.watch.active:
        return
    if not w.watch.start(folder):
        w.statusBar().showMessage(f"The watch folder {folder} was not resumed (see the "
                                  "message); Tools > Watch folder… to choose it again", 15000)
