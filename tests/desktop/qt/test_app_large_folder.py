"""A large folder keeps the window responsive and memory per row bounded.

A QTimer ticks every 10 ms during the batch; the longest gap between ticks is the longest
event-loop stall. The issue's goal is 100 ms; the test asserts a wide margin (250 ms) because
CI machines are shared. Set PNEUMONIA_XRAY_LARGE_N=10000 to run the full-size case.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

from tests.desktop.qt.app_helpers import new_window, xray_like

pytestmark = [pytest.mark.gui, pytest.mark.slow, pytest.mark.usefixtures("home")]
log = logging.getLogger(__name__)

N_FILES = int(os.environ.get("PNEUMONIA_XRAY_LARGE_N", "2000"))
STALL_LIMIT_S = 0.25
#: On a machine loaded beyond twice its cores (a training run beside the tests), the OS alone
#: delays the GUI thread by 100+ ms; the limit then relaxes, and the message says so.
OVERLOADED_STALL_LIMIT_S = 0.5
ROW_BYTES_LIMIT = 2048


def _deep_size(row: object) -> int:
    size = sys.getsizeof(row)
    for name in type(row).__slots__:
        size += sys.getsizeof(getattr(row, name))
    return size


def test_large_folder_stays_responsive_with_bounded_rows(qtbot, tmp_path, full_res_images):
    from PIL import Image

    folder = tmp_path / "large"
    base = xray_like(full_res_images, 96)
    for i in range(N_FILES):
        sub = folder / f"d{i // 500:02d}"
        if i % 500 == 0:
            sub.mkdir(parents=True)
        Image.fromarray(np.roll(base, i % 96, axis=1)).save(sub / f"f{i:05d}.bmp")

    w = new_window(qtbot)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    gc.collect()  # earlier tests' garbage must not be collected on the GUI thread mid-measurement
    qtbot.wait(50)
    t0 = time.perf_counter()
    with qtbot.waitSignal(w.runner.finished, timeout=600_000):
        w.open_paths([str(folder)])
    elapsed = time.perf_counter() - t0
    qtbot.wait(30)
    timer.stop()
    gaps = np.diff([t for t in ticks if t >= t0 - 0.05])
    longest = float(gaps.max())
    rows = w.results.rows()
    per_row = sum(_deep_size(r) for r in rows) / len(rows)
    load = os.getloadavg()[0]
    overloaded = load > 2 * (os.cpu_count() or 1)
    limit = OVERLOADED_STALL_LIMIT_S if overloaded else STALL_LIMIT_S
    msg = (f"{N_FILES} files in {elapsed:.1f} s; longest event-loop stall {longest * 1000:.0f} ms "
           f"(p99 {np.percentile(gaps, 99) * 1000:.0f} ms, {len(gaps)} ticks); "
           f"{per_row:.0f} bytes per row; load average {load:.1f}, limit {limit * 1000:.0f} ms")
    log.warning("%s", msg)
    sys.stderr.write(msg + "\n")
    assert len(rows) == N_FILES and w.runner.done == N_FILES
    assert len(gaps) > elapsed / 0.05  # the loop kept ticking through the batch
    assert longest < limit, msg
    assert per_row < ROW_BYTES_LIMIT, msg
    # no pixels: the only array a row holds is its small heatmap (14 x 14 float32)
    assert all(f == "cam" and getattr(r, f).nbytes <= 1024 for r in rows[:50] for f in r.__slots__
               if isinstance(getattr(r, f), np.ndarray))
    # sorting the full table by probability stays quick
    t1 = time.perf_counter()
    w.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    assert time.perf_counter() - t1 < 2.0
