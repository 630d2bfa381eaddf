"""Results finished around a Cancel are shown (issue 25): after Cancel, the window's rows, the
worklist, the review list in the data file and the audit trail name the same files.

The trial's defect: the batch saved (and audited) its results a chunk at a time, then handed
them to the window one by one; Cancel stopped the hand-over after the first file of a chunk,
so the rest of the chunk was in the database and the audit but not in the window, and its
flagged films missed the worklist until a restart."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from desktop import jobs
from tests.desktop.qt.app_helpers import new_window

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def _films(tmp_path, monkeypatch):
    folder = tmp_path / "films"
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i in range(240):  # small films: fast, so many chunks are saved before the Cancel lands
        Image.fromarray(rng.integers(0, 255, (96, 96), dtype=np.uint8)).save(
            folder / f"f{i:03d}.png")
    # Chunks of exactly 20 files: a Cancel between two files of a chunk is what the trial hit.
    monkeypatch.setattr(jobs, "SAVE_CHUNK_FILES", 20)
    monkeypatch.setattr(jobs, "SAVE_CHUNK_SECONDS", 3600.0)
    return folder


def _stop_mid_batch(qtbot, tmp_path, monkeypatch, stop: str):
    """A window classifying 240 films, stopped by ``stop`` (a method) after 21 are shown."""
    folder = _films(tmp_path, monkeypatch)
    w = new_window(qtbot)
    w.open_paths([str(folder)])
    qtbot.waitUntil(lambda: w.runner.done >= 21, timeout=60_000)
    with qtbot.waitSignal(w.runner.finished, timeout=60_000):
        getattr(w, stop)()
    return w


def test_cancel_leaves_window_database_and_audit_in_agreement(qtbot, tmp_path, monkeypatch):
    w = _stop_mid_batch(qtbot, tmp_path, monkeypatch, "cancel_batch")
    shown = {r.path for r in w.session.results.rows}
    assert 21 <= len(shown) < 240, "the Cancel should land mid-batch"
    audited = [e.path for e in w.audit.all() if e.action == "classify"]
    assert len(audited) == len(set(audited))
    assert set(audited) == shown, (
        f"{len(set(audited) - shown)} classified and audited file(s) are not in the window")
    saved_flags = {e.path for e in w.store.entries()}
    flagged_rows = {r.path for r in w.session.results.rows if r.flagged}
    worklist = {e.path for e in w.flagged.model.entries()}
    assert flagged_rows, "the test needs flagged films"
    assert saved_flags == flagged_rows == worklist
    assert w.runner.done == len(shown)  # the count line's number


def test_clear_results_during_a_batch_keeps_every_saved_flag_on_the_worklist(qtbot, tmp_path,
                                                                             monkeypatch):
    w = _stop_mid_batch(qtbot, tmp_path, monkeypatch, "clear_results")
    assert len(w.session.results) == 0  # the table is cleared ...
    saved = {e.path for e in w.store.entries()}
    audited = {e.path for e in w.audit.all() if e.action == "classify"}
    assert saved and saved <= audited
    assert {e.path for e in w.flagged.model.entries()} == saved  # ... the worklist is whole
