"""Start the desktop application: ``run_gui(args)`` (args: files and folders to open)."""

from __future__ import annotations

import logging
import sys

from desktop import logging_setup

log = logging.getLogger(__name__)


def load_model() -> tuple[object | None, str]:
    """The bundled model, or (None, message) when it cannot be used."""
    from pneumonia_core.model import ModelBundle, ModelError

    try:
        return ModelBundle.load(), ""
    except ModelError as exc:
        log.error("model refused: %s", exc)
        return None, str(exc)
    except Exception as exc:  # a broken runtime must not stop the viewer
        log.exception("model failed to load")
        return None, f"{type(exc).__name__}: {exc}"


def qt_bindings_problem() -> str:
    """'' when the Qt bindings keep reference counts on signal emission, else a message.

    PySide6 6.12.0 on CPython 3.11 drops a reference to ``True`` per ``emit()`` and aborts
    the interpreter after a few thousand (see tests/test_app_pyside_guard.py)."""
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        ping = Signal()

    probe = Probe()
    before = sys.getrefcount(True)
    for _ in range(20):
        probe.ping.emit()
    if sys.getrefcount(True) < before - 10:
        import PySide6

        return (f"PySide6 {PySide6.__version__} corrupts reference counts on signal emission "
                "and will crash this app; install another version (pyproject.toml excludes it)")
    return ""


def create_window(open_paths: list[str] | None = None, show_first_start: bool = True):  # noqa: ANN201
    """Build the main window (a QApplication must exist); used by run_gui and tests."""
    from desktop import menus
    from desktop.main_window import MainWindow

    bundle, error = load_model()
    window = MainWindow(bundle, error)
    if window.settings.dark_theme:
        window.set_dark_theme(True)
    if show_first_start:
        window.require_notice = True  # nothing is classified before the notice is confirmed
        menus.first_start_dialog(window)
    if open_paths:
        window.open_paths(open_paths)
    return window


def run_gui(args: list[str]) -> int:
    """Create the QApplication and the main window, open ``args``, run the event loop."""
    try:
        logging_setup.setup_logging()
    except OSError as exc:  # unwritable log folder: log to the terminal only
        logging.basicConfig(level=logging.INFO)
        log.error("cannot write the log file: %s", exc)
    logging_setup.install_excepthook()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]] if sys.argv else ["pneumonia-xray"])
    app.setApplicationName("pneumonia-xray")
    app.setOrganizationName("pneumonia-xray")
    problem = qt_bindings_problem()
    if problem:
        log.critical("%s", problem)
        sys.stderr.write(problem + "\n")
    window = create_window()
    window.show()
    if args:
        window.open_paths(list(args))
    return int(app.exec())
