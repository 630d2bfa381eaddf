"""Logging for the app: a rotating log file under the user's log folder, and a last-resort
exception hook that logs at critical level and, when a Qt application is running, shows an
error dialog, so that an unexpected exception never closes the window silently.

Qt-free at import: Qt is only touched when it is already loaded and a QApplication exists.
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

#: Called with a one-line summary and the formatted traceback after logging; the GUI can
#: replace it. The default shows a QMessageBox when a QApplication exists.
ErrorReporter = Callable[[str, str], None]
_reporter: ErrorReporter | None = None
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
    """Replace how uncaught exceptions are shown to the user (None: the default dialog)."""
    global _reporter
    _reporter = reporter


def _default_reporter(summary: str, details: str) -> None:
    qtwidgets = sys.modules.get("PySide6.QtWidgets")
    if qtwidgets is None:
        return
    app = qtwidgets.QApplication.instance()
    if app is None:
        return
    from PySide6.QtCore import QThread

    if QThread.currentThread() is not app.thread():
        return  # dialogs only on the GUI thread; the log line is already written
    box = qtwidgets.QMessageBox(qtwidgets.QMessageBox.Icon.Critical, "Unexpected error",
                                summary)
    box.setInformativeText(
        "The application keeps running. Details were written to the log file:\n"
        f"{paths.log_path()}"
    )
    box.setDetailedText(details)
    box.setModal(False)
    box.show()  # non-blocking: the event loop and the window go on
    _open_boxes.append(box)
    box.finished.connect(lambda _=0, b=box: _open_boxes.remove(b) if b in _open_boxes else None)


#: Error dialogs currently shown (kept referenced so Python does not collect them).
_open_boxes: list = []


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
        (_reporter or _default_reporter)(summary, details)
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
