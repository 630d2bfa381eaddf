"""Logging for the app: a rotating log file under the user's log folder, and a last-resort
exception hook that logs at critical level and then tells the user through a reporter: the
window installs an error dialog (``desktop.qt.error_dialog``), so that an unexpected exception
never closes the window silently.

Qt-free: this module never imports PySide6 (import-linter contract in pyproject.toml).
"""

from __future__ import annotations

import logging
import logging.handlers
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
    handler = logging.handlers.RotatingFileHandler(
        target, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
    )
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
