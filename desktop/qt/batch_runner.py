"""Runs classification jobs in the background and hands results to the GUI in chunks.

The worker yields one result at a time, in input order (classified by ``CLASSIFY_WORKERS``
threads, see :func:`pneumonia_core.pipeline.classify_many`); results are buffered here and
delivered every
``FLUSH_MS`` milliseconds as one chunk (one model insert), so thousands of files never flood
the event loop. One job runs at a time; paths opened meanwhile are queued.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from desktop.jobs import Discovered, Job, ResultRow, SavedChunk, classify_job
from desktop.qt import worker as workers
from desktop.review_store import FlagEntry
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.model import ModelBundle
from pneumonia_core.pipeline import default_workers

log = logging.getLogger(__name__)

FLUSH_MS = 100
#: The batch thread runs this much nicer than the GUI thread (Linux; the classification
#: threads it starts inherit it), so a busy or overloaded machine delays the classification
#: rather than the window. Env override.
WORKER_NICE = int(os.environ.get("PNEUMONIA_XRAY_WORKER_NICE", "10"))
MAX_CHUNK = 2000
#: Classification threads per job (each with its own model clone; results stay in order):
#: decoding and inference of two files overlap on two cores.
CLASSIFY_WORKERS = default_workers()


class BatchRunner(QObject):
    rows_ready = Signal(list, list)  # list[ResultRow], list[FlagEntry]
    progress = Signal(int, int)  # done, total
    started = Signal()
    finished = Signal(bool)  # True when cancelled
    errored = Signal(str)

    def __init__(self, db: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._worker: workers.GeneratorWorker | None = None
        self._queue: list[tuple[list[str], ModelBundle | None, OperatingPoint | None, Job]] = []
        self._rows: list[ResultRow] = []
        self._flags: list[FlagEntry] = []
        self.done = 0
        self.total = 0
        #: Why the last job stopped early ('' when it did not), e.g. the data file is full.
        self.error = ""
        self._cancelled = False
        self._dropping = False
        self._t0 = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self.flush)

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self, paths: list[str], bundle: ModelBundle | None,
              point: OperatingPoint | None = None, job: Job = classify_job) -> None:
        """Classify ``paths`` (files and folders) after any job already running, at ``point``
        (None: the model's default operating point); ``job`` is the generator that does it
        (:func:`desktop.jobs.classify_job` or one with its signature, e.g. the watch folder's)."""
        if self.running:
            self._queue.append((paths, bundle, point, job))
            return
        self.done = self.total = 0
        self.error = ""
        self._cancelled = False
        self._t0 = time.perf_counter()
        self._launch(paths, bundle, point, job)

    def _launch(self, paths: list[str], bundle: ModelBundle | None,
                point: OperatingPoint | None, job: Job) -> None:
        w = workers.GeneratorWorker(job, list(paths), bundle, point,
                                    self.db, workers=CLASSIFY_WORKERS)
        w.nice = WORKER_NICE
        w.signals.yielded.connect(self._on_yielded)
        w.signals.errored.connect(self._on_errored)
        w.signals.finished.connect(self._on_finished)
        self._worker = w
        self._timer.start()
        self.started.emit()
        workers.start(w, self.pool)

    def cancel(self) -> None:
        """Stop after the file in progress; queued jobs are dropped."""
        self._queue.clear()
        self._cancelled = True
        if self._worker is not None:
            self._worker.quit()

    def discard(self) -> None:
        """Cancel and drop every result row not yet delivered (the table is being cleared);
        their saved flags still reach the worklist."""
        self.cancel()
        self._dropping = self.running
        self._rows = []

    def wait(self, msecs: int = 5000) -> bool:
        return self.pool.waitForDone(msecs)

    def _on_yielded(self, event: object) -> None:
        if isinstance(event, Discovered) and not self._dropping:
            self.total += event.total
            self.progress.emit(self.done, self.total)
        elif isinstance(event, SavedChunk):  # saved and audited: always shown (issue 25)
            self._flags.extend(c.flag for c in event.items if c.flag is not None)
            if not self._dropping:
                self._rows.extend(c.row for c in event.items)
            if len(self._rows) >= MAX_CHUNK:
                self.flush()

    def flush(self) -> None:
        """Deliver the buffered results as one chunk."""
        if not self._rows and not self._flags:
            return
        rows, flags = self._rows, self._flags
        self._rows, self._flags = [], []
        self.done += len(rows)
        self.rows_ready.emit(rows, flags)
        self.progress.emit(self.done, self.total)

    def _on_errored(self, exc: object) -> None:
        from desktop.sqlite_util import StorageError

        self.error = str(exc) if isinstance(exc, StorageError) else f"{type(exc).__name__}: {exc}"
        self._queue.clear()  # what comes next could not be saved either
        self.errored.emit(f"Classification stopped: {self.error}")

    def _on_finished(self) -> None:
        if self._dropping:
            self._rows, self._dropping = [], False
        self.flush()
        self._worker = None
        log.info("batch finished: %d/%d files in %.1f s%s", self.done, self.total,
                 time.perf_counter() - self._t0, " (cancelled)" if self._cancelled else "")
        if self._queue and not self._cancelled:
            self._launch(*self._queue.pop(0))  # counts go on across queued jobs
            return
        self._timer.stop()
        self.finished.emit(self._cancelled)
