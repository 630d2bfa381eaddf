"""Logging for the app: a rotating log file under the user's log folder, and a last-resort
exception hook that logs at critical level and then tells the user through a reporter: the
window installs an error dialog (``desktop.qt.error_dialog``), so that an unexpected exception
never closes the window silently.

Qt-free: this module never imports PySide6 (import-linter contract in pyproject.toml).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from desktop import paths

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)-8s %(threadName)s %(name)s: %(message)s"
MAX_BYTES = 2 * 1024 * 1024
BACKUP_COUNT = 5

#: Called with a one-line summary and the formatted traceback after logging. Tests set one
#: with set_error_reporter; the window installs its dialog with set_gui_reporter.
ErrorReporter = Callable[[str, str], None]
_reporter: ErrorReporter | None = None
_gui_reporter: ErrorReporter | None = None
_handler: logging.Handler | None = None


class RotatingLogFile(logging.FileHandler):
    """The log file, rotated like ``logging.handlers.RotatingFileHandler`` (same rule and
    names: when a record would take the file to ``max_bytes``, ``app.log.N`` becomes
    ``app.log.N+1`` up to ``backup_count`` and ``app.log`` becomes ``app.log.1``). Written here
    because importing ``logging.handlers`` (socket, selectors, pickle, queue) took about 6 ms
    of every start, a one-file ``classify``'s included (issue 22)."""

    def __init__(self, filename: Path, max_bytes: int, backup_count: int) -> None:
        super().__init__(filename, mode="a", encoding="utf-8")
        self.max_bytes = max_bytes
        self.backup_count = backup_count

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.should_roll_over(record):
                self.roll_over()
            super().emit(record)
        except Exception:
            self.handleError(record)

    def should_roll_over(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` would take the file to ``max_bytes`` (never for a path that is
        not a regular file, such as /dev/null)."""
        if os.path.exists(self.baseFilename) and not os.path.isfile(self.baseFilename):
            return False
        if self.stream is None:
            self.stream = self._open()
        if self.max_bytes <= 0:
            return False
        self.stream.seek(0, 2)
        return self.stream.tell() + len(f"{self.format(record)}\n") >= self.max_bytes

    def roll_over(self) -> None:
        """Close the file, shift the backups by one (the oldest is dropped), start anew."""
        if self.stream:
            self.stream.close()
            self.stream = None
        if self.backup_count > 0:
            for i in range(self.backup_count - 1, 0, -1):
                older, newer = f"{self.baseFilename}.{i}", f"{self.baseFilename}.{i + 1}"
                if os.path.exists(older):
                    if os.path.exists(newer):
                        os.remove(newer)
                    os.rename(older, newer)
            first = f"{self.baseFilename}.1"
            if os.path.exists(first):
                os.remove(first)
            if os.path.exists(self.baseFilename):
                os.rename(self.baseFilename, first)
        self.stream = self._open()


def setup_logging(level: int = logging.INFO, log_file: Path | None = None) -> Path:
    """Attach a rotating file handler (2 MB x 5) to the root logger; idempotent.

    Returns the log file path.
    """
    global _handler
    target = Path(log_file) if log_file is not None else paths.log_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    if _handler is not None:
        if Path(getattr(_handler, "baseFilename", "")) == target.resolve():
            return target
        root.removeHandler(_handler)
        _handler.close()
    handler = RotatingLogFile(target, MAX_BYTES, BACKUP_COUNT)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    _handler = handler
    log.info("logging to %s", target)
    return target


def shutdown_logging() -> None:
    """Detach and close the file handler added by :func:`setup_logging`."""
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler.close()
        _handler = None


def set_error_reporter(reporter: ErrorReporter | None) -> None:
    """Replace how uncaught exceptions are shown to the user (None: back to the window's
    dialog when one was installed, else the log line only)."""
    global _reporter
    _reporter = reporter


def set_gui_reporter(reporter: ErrorReporter | None) -> None:
    """The window's way of telling the user (``desktop.qt.error_dialog``), used when no
    reporter was set with :func:`set_error_reporter`; None: the log line only."""
    global _gui_reporter
    _gui_reporter = reporter


def _log_only(summary: str, details: str) -> None:
    """No window: the critical log line already written is the report."""


def handle_exception(exc_type: type[BaseException], exc: BaseException,
                     tb: TracebackType | None) -> None:
    """The ``sys.excepthook``: log critical, then tell the user; never exits."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    import traceback

    details = "".join(traceback.format_exception(exc_type, exc, tb))
    log.critical("uncaught exception:\n%s", details)
    summary = f"{exc_type.__name__}: {exc}"
    try:
        (_reporter or _gui_reporter or _log_only)(summary, details)
    except Exception:  # the hook itself must never raise
        log.exception("error reporter failed")


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    handle_exception(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)


def install_excepthook() -> None:
    """Install :func:`handle_exception` for the main thread and Python threads."""
    sys.excepthook = handle_exception
    threading.excepthook = _thread_hook
