"""Start the desktop application: ``run_gui(args)`` (args: files and folders to open)."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from desktop import logging_setup

log = logging.getLogger(__name__)


def load_model(model_dir: Path | None = None) -> tuple[object | None, str]:
    """The model in ``model_dir`` (default: the bundled one), or (None, message) when it
    cannot be used."""
    from pneumonia_core.model import ModelBundle, ModelError

    try:
        return ModelBundle.load(model_dir), ""
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


@dataclass
class WindowArgs:
    """The window's command line: ``[--model-dir DIR] [--threshold T] [FILE_OR_FOLDER ...]``,
    the same options and checks as ``classify``."""

    model_dir: Path | None = None
    threshold: float | None = None
    paths: list[str] = field(default_factory=list)


class UsageError(ValueError):
    """A bad window command line; the message is meant for the user."""


def parse_window_args(args: list[str]) -> WindowArgs:
    """Parse the window's options (``--`` ends them: later names are files)."""
    import argparse

    from desktop.batch import PROG, parse_threshold

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise UsageError(f"{PROG}: error: {message}")

    parser = Parser(prog=PROG, add_help=False)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--threshold", type=parse_threshold, default=None)
    parser.add_argument("paths", nargs="*")
    ns = parser.parse_args(args)
    return WindowArgs(ns.model_dir, ns.threshold, list(ns.paths))


def create_window(open_paths: list[str] | None = None, show_first_start: bool = True,  # noqa: ANN201
                  model_dir: Path | None = None, threshold: float | None = None):
    """Build the main window (a QApplication must exist); used by run_gui and tests.
    ``model_dir`` and ``threshold`` (command line) apply to this session only."""
    from desktop import menus
    from desktop.main_window import MainWindow

    bundle, error = load_model(model_dir)
    window = MainWindow(bundle, error, threshold=threshold)
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
        options = parse_window_args(list(args))
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
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
    window = create_window(model_dir=options.model_dir, threshold=options.threshold)
    window.show()
    if options.paths:
        window.open_paths(options.paths)
    return int(app.exec())
