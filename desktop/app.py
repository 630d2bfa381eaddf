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


def create_window(open_paths: list[str] | None = None, show_first_start: bool = True):  # noqa: ANN201
    """Build the main window (a QApplication must exist); used by run_gui and tests."""
    from desktop import menus
    from desktop.main_window import MainWindow

    bundle, error = load_model()
    window = MainWindow(bundle, error)
    if show_first_start:
        menus.first_start_dialog(window)
    if open_paths:
        window.open_paths(open_paths)
    return window


def run_gui(args: list[str]) -> int:
    """Create the QApplication and the main window, open ``args``, run the event loop."""
    logging_setup.setup_logging()
    logging_setup.install_excepthook()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]] if sys.argv else ["pneumonia-xray"])
    app.setApplicationName("pneumonia-xray")
    app.setOrganizationName("pneumonia-xray")
    window = create_window()
    window.show()
    if args:
        window.open_paths(list(args))
    return int(app.exec())
