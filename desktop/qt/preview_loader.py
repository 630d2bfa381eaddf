"""Loads previews in a worker for the session's LRU cache (:class:`desktop.session.ReadingSession`
decodes each film once and takes its heatmap from its row); only the newest request is
delivered, so scrolling quickly through a list never piles up."""

from __future__ import annotations

import logging
from collections import OrderedDict

from PySide6.QtCore import QObject, QThreadPool, Signal

from desktop.jobs import Preview
from desktop.qt import worker as workers
from desktop.session import ReadingSession

log = logging.getLogger(__name__)


class PreviewLoader(QObject):
    ready = Signal(object)  # Preview
    loading = Signal(str)  # path

    def __init__(self, session: ReadingSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._wanted: str | None = None
        self._inflight: set[str] = set()

    @property
    def cache(self) -> OrderedDict[str, Preview]:
        """The session's preview cache (newest last)."""
        return self.session.previews

    def request(self, path: str) -> None:
        """Ask for ``path``'s preview; ``ready`` fires now (cached) or when decoded."""
        self._wanted = path
        hit = self.session.cached_preview(path)
        if hit is not None:
            self.ready.emit(hit)
            return
        self.loading.emit(path)
        if path in self._inflight:
            return
        self._inflight.add(path)
        w = workers.FunctionWorker(self.session.load_preview, path)
        w.signals.returned.connect(self._on_returned)
        w.signals.errored.connect(self._on_errored)
        workers.start(w, self.pool)

    def clear(self) -> None:
        self.session.previews.clear()

    def wait(self, msecs: int = 5000) -> bool:
        return self.pool.waitForDone(msecs)

    def _on_returned(self, preview: object) -> None:
        assert isinstance(preview, Preview)
        self._inflight.discard(preview.path)
        self.session.keep_preview(preview)
        if preview.path == self._wanted:
            self.ready.emit(preview)

    def _on_errored(self, exc: object) -> None:
        log.error("preview worker failed: %s", exc)
        self._inflight.clear()
