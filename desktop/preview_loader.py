"""Loads previews (decode + CAM) in a worker and keeps the last few in an LRU cache; only
the newest request is delivered, so scrolling quickly through a list never piles up."""

from __future__ import annotations

import logging
from collections import OrderedDict

from PySide6.QtCore import QObject, QThreadPool, Signal

from desktop import worker as workers
from desktop.jobs import Preview, load_preview
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.model import ModelBundle

log = logging.getLogger(__name__)

CACHE_SIZE = 6


class PreviewLoader(QObject):
    ready = Signal(object)  # Preview
    loading = Signal(str)  # path

    def __init__(self, parent: QObject | None = None, cache_size: int = CACHE_SIZE) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.cache: OrderedDict[str, Preview] = OrderedDict()
        self.cache_size = cache_size
        self._wanted: str | None = None
        self._inflight: set[str] = set()
        self.bundle: ModelBundle | None = None
        self.point: OperatingPoint | None = None  # None: the model's default

    def request(self, path: str) -> None:
        """Ask for ``path``'s preview; ``ready`` fires now (cached) or when decoded."""
        self._wanted = path
        hit = self.cache.get(path)
        if hit is not None:
            self.cache.move_to_end(path)
            self.ready.emit(hit)
            return
        self.loading.emit(path)
        if path in self._inflight:
            return
        self._inflight.add(path)
        w = workers.FunctionWorker(load_preview, path, self.bundle, self.point)
        w.signals.returned.connect(self._on_returned)
        w.signals.errored.connect(self._on_errored)
        workers.start(w, self.pool)

    def clear(self) -> None:
        self.cache.clear()

    def wait(self, msecs: int = 5000) -> bool:
        return self.pool.waitForDone(msecs)

    def _on_returned(self, preview: object) -> None:
        assert isinstance(preview, Preview)
        self._inflight.discard(preview.path)
        self.cache[preview.path] = preview
        self.cache.move_to_end(preview.path)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        if preview.path == self._wanted:
            self.ready.emit(preview)

    def _on_errored(self, exc: object) -> None:
        log.error("preview worker failed: %s", exc)
        self._inflight.clear()
