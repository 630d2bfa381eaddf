"""Child process of test_no_network.py: installs an audit hook that records every socket
event, then runs the batch command or the app (offscreen) and writes what it saw as JSON.

    python -m tests.reliability.netguard_child batch|selftest|app REPORT.json FOLDER [CSV]
"""

from __future__ import annotations

import json
import sys
import time

EVENTS: list[dict] = []
WATCHED = ("socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo",
           "socket.gethostbyname", "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg",
           "urllib.Request", "http.client.connect", "ftplib.connect", "smtplib.connect")


def hook(event: str, args: tuple) -> None:
    if event in WATCHED:
        family = args[1] if event == "socket.__new__" and len(args) > 1 else None
        import traceback

        stack = [line for line in traceback.format_stack() if "importlib" not in line]
        EVENTS.append({"event": event, "family": str(family), "args": repr(args)[:200],
                       "stack": "".join(stack[-40:])})


sys.addaudithook(hook)  # before anything else is imported


def run_batch(folder: str, csv: str) -> dict:
    from desktop.__main__ import main

    rc = main(["classify", folder, "--csv", csv])
    return {"rc": rc}


def run_self_test() -> dict:
    from desktop.__main__ import main

    return {"rc": main(["--self-test"])}


def run_app(folder: str) -> dict:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop import logging_setup
    from desktop.qt.app import create_window

    logging_setup.setup_logging()
    app = QApplication(["pneumonia-xray"])
    window = create_window(show_first_start=False)  # the same start-up as run_gui
    window.show()
    finished: list[bool] = []
    window.runner.finished.connect(lambda cancelled: (finished.append(cancelled), app.quit()))
    QTimer.singleShot(0, lambda: window.open_paths([folder]))
    QTimer.singleShot(120_000, app.quit)
    t0 = time.perf_counter()
    app.exec()
    rows = window.results.rows()
    statuses = sorted({getattr(r, "status", "?") for r in rows})
    window.close()
    return {"finished": finished, "rows": len(rows), "statuses": statuses,
            "model_loaded": window.bundle is not None if hasattr(window, "bundle") else None,
            "seconds": time.perf_counter() - t0}


def main() -> None:
    mode, report = sys.argv[1], sys.argv[2]
    if mode == "batch":
        result = run_batch(sys.argv[3], sys.argv[4])
    elif mode == "selftest":
        result = run_self_test()
    else:
        result = run_app(sys.argv[3])
    with open(report, "w", encoding="utf-8") as fh:
        json.dump({"result": result, "events": EVENTS}, fh)


if __name__ == "__main__":
    main()
