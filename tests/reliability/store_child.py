"""Child processes of test_crash_safety.py; the parent kills them with SIGKILL.

    python -m tests.reliability.store_child store DB START   # review-store write loop
    python -m tests.reliability.store_child app FOLDER       # the real app, offscreen

Each prints one line per change AFTER the change returned (i.e. was committed):
``U i`` / ``R i`` (store loop), ``F [path, sha, status]`` / ``R [path, sha, note]`` (app).
"""

from __future__ import annotations

import hashlib
import json
import sys


def entry_path(i: int) -> str:
    return f"/studies/ward-{i % 7}/film-{i:06d}-ü.png"


def entry_sha(i: int) -> str:
    return hashlib.sha256(f"film {i}".encode()).hexdigest()


def entry_note(i: int) -> str:
    return f"reviewed by Dr Ö #{i} " + "x" * (i % 300)


def expected_fields(i: int) -> dict:
    """What the store must hold for entry ``i`` (a long message spreads rows over pages)."""
    return {
        "status": "ok" if i % 5 else "error",
        "probability": (i % 1000) / 1000.0 if i % 5 else None,
        "prediction": "PNEUMONIA" if i % 5 else "",
        "message": f"message {i} " + "é" * (i % 500),
        "threshold": 0.42,
        "model_sha256": "m" * 64,
    }


def store_loop(db: str, start: int) -> None:
    from desktop.review_store import FlagEntry, ReviewStore

    store = ReviewStore(db)
    i = start
    while True:
        store.upsert(FlagEntry(path=entry_path(i), file_sha256=entry_sha(i), **expected_fields(i)))
        sys.stdout.write(f"U {i}\n")
        sys.stdout.flush()
        if i % 3 == 2:
            j = i - 1
            store.set_review(entry_path(j), entry_sha(j), "reviewed", entry_note(j))
            sys.stdout.write(f"R {j}\n")
            sys.stdout.flush()
        i += 1


def app_run(folder: str) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.qt.app import create_window

    app = QApplication(["pneumonia-xray"])
    window = create_window(show_first_start=False)
    window.show()

    def on_rows(rows: list, flags: list) -> None:
        # rows_ready is emitted after the job committed the chunk (upsert_many).
        for e in flags:
            sys.stdout.write("F " + json.dumps([e.path, e.file_sha256, e.status]) + "\n")
        sys.stdout.flush()
        for e in flags[::2]:
            note = f"seen {len(e.path)}"
            window.set_review(e, "reviewed", note)  # shows an error instead of raising
            stored = window.store.get(e.path, e.file_sha256)
            if stored is None or stored.review_state != "reviewed":
                continue  # not saved: not reported
            sys.stdout.write("R " + json.dumps([e.path, e.file_sha256, note]) + "\n")
            sys.stdout.flush()

    window.runner.rows_ready.connect(on_rows)
    window.runner.finished.connect(lambda cancelled: (sys.stdout.write("DONE\n"),
                                                      sys.stdout.flush(), app.quit()))
    QTimer.singleShot(0, lambda: window.open_paths([folder]))
    app.exec()


if __name__ == "__main__":
    if sys.argv[1] == "store":
        store_loop(sys.argv[2], int(sys.argv[3]))
    else:
        app_run(sys.argv[2])
