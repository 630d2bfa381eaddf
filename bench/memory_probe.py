"""Run in a fresh interpreter by :mod:`bench.memory`: classify a folder the way the app does
and print peak resident memory and wall time as JSON on stdout.

    python -m bench.memory_probe FOLDER [--gui]

Headless: :func:`pneumonia_core.pipeline.classify_many` with the batch command's default
worker count; every ``Result`` is kept.
``--gui``: the real main window offscreen (``desktop.qt.app.create_window``), the folder opened
with ``MainWindow.open_paths`` and the event loop run until its batch runner finishes: the
results table model, flagged list, review store and audit log all do their real work.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _rss_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def headless(folder: Path) -> dict[str, Any]:
    from pneumonia_core.files import iter_image_files
    from pneumonia_core.model import ModelBundle
    from pneumonia_core.pipeline import classify_many, default_workers

    bundle = ModelBundle.load()
    after_load = _rss_mb()
    t0 = time.perf_counter()
    files = list(iter_image_files([folder]))
    results = list(classify_many(files, bundle, workers=default_workers()))
    runner = f"pneumonia_core.pipeline.classify_many ({default_workers()} workers)"
    return {"files": len(files), "classified_ok": sum(r.status == "ok" for r in results),
            "runner": runner, "after_load": after_load, "seconds": time.perf_counter() - t0}


def gui(folder: Path) -> dict[str, Any]:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.qt.app import create_window

    app = QApplication.instance() or QApplication(["bench"])
    window = create_window(show_first_start=False)
    window.show()
    app.processEvents()
    after_load = _rss_mb()
    loop = QEventLoop()
    window.runner.finished.connect(lambda *_: loop.quit())
    QTimer.singleShot(3_600_000, loop.quit)  # never hang a benchmark
    t0 = time.perf_counter()
    window.open_paths([str(folder)])
    loop.exec()
    seconds = time.perf_counter() - t0
    rows = window.results.rows()
    ok = sum(getattr(r, "status", "") == "ok" for r in rows)
    out = {"files": len(rows), "classified_ok": ok, "runner": "desktop MainWindow.open_paths",
           "after_load": after_load, "seconds": seconds}
    window.close()
    return out


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    res = gui(folder) if "--gui" in argv else headless(folder)
    end = _rss_mb()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    after = res.pop("after_load")
    res.update({
        "rss_after_model_load_mb": round(after.get("VmRSS", 0.0), 1),
        "rss_end_mb": round(end.get("VmRSS", 0.0), 1),
        # VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the parent's peak.
        "peak_rss_mb": round(end.get("VmHWM", 0.0), 1),
        "seconds": round(res["seconds"], 3),
        "process_cpu_seconds": round(ru.ru_utime + ru.ru_stime, 2),
        "images_per_s": round(res["files"] / res["seconds"], 1) if res["seconds"] > 0 else None,
    })
    sys.stdout.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
