"""Tools > Watch folder (issue 25): 200 films copied into a watched folder (sub-folders too)
while the window is open are each classified exactly once, flagged ones reach the worklist with
a status-bar notice, and the window stays responsive (a 10 ms timer's longest gap, with a wide
margin as in test_app_large_folder). Films come from ../shared/data/chest_xray/train when
present, else generated ones."""

from __future__ import annotations

import gc
import logging
import shutil
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QTimer

from desktop.settings import Settings
from desktop.watch import WATCH_DB_NAME, WatchState
from tests.conftest import SHARED_DATA, synthetic_xray
from tests.desktop.qt.app_helpers import new_window

log = logging.getLogger(__name__)
pytestmark = [pytest.mark.gui, pytest.mark.slow, pytest.mark.usefixtures("home")]

N_FILMS = 200
STALL_LIMIT_S = 0.5  # the goal is 100 ms; shared CI machines need the margin


def _sources(tmp_path: Path) -> list[Path]:
    real = sorted((SHARED_DATA / "train" / "PNEUMONIA").glob("*.jpeg"))[:N_FILMS // 2] + sorted(
        (SHARED_DATA / "train" / "NORMAL").glob("*.jpeg"))[:N_FILMS // 2]
    if len(real) == N_FILMS:
        return real
    src = tmp_path / "src"
    src.mkdir()
    out = []
    for i in range(N_FILMS):
        p = src / f"gen{i:03d}.png"
        Image.fromarray(synthetic_xray(i, pneumonia=i % 2 == 0)).save(p)
        out.append(p)
    return out


def _copy_in(sources: list[Path], folder: Path) -> list[str]:
    """Copy the films in, a few at a time, in two sub-folders (as an export would)."""
    dests = []
    for i, p in enumerate(sources):
        dest = folder / f"study{i % 2}" / p.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dest)
        dests.append(str(dest))
        if i % 10 == 9:
            time.sleep(0.05)
    return dests


def test_watch_folder_classifies_200_films_copied_in_once_and_stays_responsive(qtbot, tmp_path,
                                                                                home):
    sources = _sources(tmp_path)
    folder = tmp_path / "pacs-export"
    folder.mkdir()
    w = new_window(qtbot)
    w.settings.first_start_acknowledged = True
    w.watch.settle_s = 1.0
    w.watch.timer.setInterval(250)
    messages: list[str] = []
    w.statusBar().messageChanged.connect(messages.append)
    assert w.watch.start(str(folder))
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    gc.collect()
    timer.start()
    copied: list[str] = []
    copier = threading.Thread(target=lambda: copied.extend(_copy_in(sources, folder)))
    t0 = time.perf_counter()
    copier.start()
    qtbot.waitUntil(lambda: w.watch.classified >= N_FILMS and not w.runner.running,
                    timeout=60_000)
    elapsed = time.perf_counter() - t0
    qtbot.wait(1500)  # a few more scans: nothing is classified again
    timer.stop()
    copier.join()

    assert w.watch.classified == N_FILMS
    rows = w.session.results.rows
    assert sorted(r.path for r in rows) == sorted(copied)
    audited = [e.path for e in w.audit.all() if e.action == "classify"]
    assert sorted(audited) == sorted(copied), "each film exactly once in the audit trail"
    flagged = {r.path for r in rows if r.flagged}
    assert flagged and {e.path for e in w.flagged.model.entries()} == flagged
    assert {e.path for e in w.store.entries()} == flagged
    assert any(m.startswith("Watch folder: ") and "new flagged on the worklist" in m
               for m in messages)
    assert f"{N_FILMS} classified, {len(flagged)} flagged" in w.watch.label.text()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    log.info("watch: %d films in %.1f s (%s films), %d flagged, longest event-loop gap %.0f ms",
             N_FILMS, elapsed, "real" if sources[0].suffix == ".jpeg" else "generated",
             len(flagged), max(gaps) * 1000)
    assert len(ticks) > 50 and max(gaps) < STALL_LIMIT_S, (
        f"event loop stalled {max(gaps) * 1000:.0f} ms during the watch ({elapsed:.1f} s)")
    with WatchState(Path(w.review_db).parent / WATCH_DB_NAME) as state:
        assert len(state.done_keys(str(folder))) == N_FILMS and state.claimed() == []
    assert Settings.load().watch_folder == str(folder)  # watched again at the next start
    w.watch.stop()
    assert not w.watch.label.isVisible() and Settings.load().watch_folder == ""
    assert [e.action for e in w.audit.all()].count("watch:start") == 1


def test_the_saved_watch_folder_is_watched_again_at_start_without_classifying_twice(
        qtbot, tmp_path, home, full_res_images):
    folder = tmp_path / "drop"
    folder.mkdir()
    for p in full_res_images[:3]:
        shutil.copyfile(p, folder / p.name)
    w = new_window(qtbot)
    w.settings.first_start_acknowledged = True
    w.watch.settle_s = 0.2
    assert w.watch.start(str(folder))
    qtbot.waitUntil(lambda: w.watch.classified == 3 and not w.runner.running, timeout=30_000)
    w.close()

    again = new_window(qtbot)  # a restart: the saved folder is watched again
    qtbot.waitUntil(lambda: again.watch.active, timeout=5_000)
    again.watch.settle_s = 0.2
    shutil.copyfile(full_res_images[3], folder / "new.jpeg")
    qtbot.waitUntil(lambda: again.watch.classified == 1 and not again.runner.running,
                    timeout=30_000)
    qtbot.wait(1500)
    assert again.watch.classified == 1
    assert [r.path for r in again.session.results.rows] == [str(folder / "new.jpeg")]
    audited = [e.path for e in again.audit.all() if e.action == "classify"]
    assert sorted(audited) == sorted(str(p) for p in folder.iterdir())
