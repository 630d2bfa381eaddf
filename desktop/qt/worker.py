"""Background workers on a QThreadPool (the superqt / napari pattern).

:class:`GeneratorWorker` runs a generator on a pool thread and emits ``yielded`` once per
item; :meth:`GeneratorWorker.quit` only sets a flag that is checked between items, after
which the generator is closed (its ``finally`` blocks run on the worker thread). Exceptions
travel as ``errored`` to one handler; ``finished`` is always emitted last.
:class:`FunctionWorker` runs one function and emits ``returned``.

The caller keeps a reference to the worker until ``finished`` (see :func:`start`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class WorkerSignals(QObject):
    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)  # the exception
    finished = Signal()


class _Worker(QRunnable):
    def __init__(self) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python owns it; kept alive by _RUNNING until finished
        self.signals = WorkerSignals()
        self._abort = threading.Event()

    def quit(self) -> None:
        """Ask the work to stop at the next item boundary."""
        self._abort.set()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    def work(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self) -> None:
        self.signals.started.emit()
        try:
            self.work()
        except Exception as exc:
            log.exception("background work failed")
            self.signals.errored.emit(exc)
        finally:
            self.signals.finished.emit()


def lower_thread_priority(increment: int) -> None:
    """Be nicer to the GUI thread: raise this OS thread's nice value (Linux; elsewhere and on
    failure nothing happens). Only for dedicated pool threads: it cannot be undone."""
    if increment <= 0 or not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except OSError as exc:
        log.debug("cannot lower worker priority: %s", exc)


class GeneratorWorker(_Worker):
    """Run ``func(*args, **kwargs)`` (a generator) and emit each yielded item."""

    def __init__(self, func: Callable[..., Iterator[Any]], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._func, self._args, self._kwargs = func, args, kwargs
        self.nice = 0  # set > 0 to lower the priority of the (dedicated) pool thread

    def work(self) -> None:
        lower_thread_priority(self.nice)
        gen = self._func(*self._args, **self._kwargs)
        try:
            for item in gen:
                self.signals.yielded.emit(item)
                if self._abort.is_set():
                    log.info("background job cancelled")
                    break
        finally:
            gen.close()


class FunctionWorker(_Worker):
    """Run ``func(*args, **kwargs)`` once and emit its return value as ``returned``."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._func, self._args, self._kwargs = func, args, kwargs

    def work(self) -> None:
        value = self._func(*self._args, **self._kwargs)
        if not self._abort.is_set():
            self.signals.returned.emit(value)


_RUNNING: set[_Worker] = set()


def start(worker: _Worker, pool: QThreadPool | None = None) -> _Worker:
    """Start a worker on ``pool`` (default: the global pool), keeping it alive until done."""
    _RUNNING.add(worker)
    worker.signals.finished.connect(lambda w=worker: _RUNNING.discard(w))
    (pool or QThreadPool.globalInstance()).start(worker)
    return worker
