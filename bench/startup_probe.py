"""Run inside a fresh interpreter by :mod:`bench.startup`: start the app's window offscreen
and report the moment its event loop would start with the main window shown.

``QApplication.exec`` is replaced before the app is imported: when the app calls it, the
probe lets Qt process pending events once (the window is laid out and exposed), writes
``READY <title>`` on stdout and returns 0 instead of entering the loop. The parent measures
from before it spawned this process to that line, so interpreter start-up, imports, model
loading and window construction are all inside the number. Nothing here is a hook in the app.
"""

from __future__ import annotations

import sys


def main() -> int:
    from PySide6 import QtWidgets

    def fake_exec(*_args: object) -> int:
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.processEvents()
        shown = [w for w in QtWidgets.QApplication.topLevelWidgets() if w.isVisible()]
        title = shown[0].windowTitle() if shown else ""
        sys.stdout.write(f"READY {len(shown)} {title}\n")
        sys.stdout.flush()
        return 0

    QtWidgets.QApplication.exec = fake_exec  # type: ignore[method-assign]
    if hasattr(QtWidgets.QApplication, "exec_"):
        QtWidgets.QApplication.exec_ = fake_exec  # type: ignore[attr-defined]
    from desktop.__main__ import main as app_main

    return app_main([])


if __name__ == "__main__":
    sys.exit(main())
