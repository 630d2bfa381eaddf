"""``classify --watch``, killed with SIGKILL mid-way and restarted, finishes without
classifying any film twice (issue 25); Ctrl+C stops it with a summary and exit 0; a line per
file with the running count also when stderr is not a terminal (here: a pipe)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from desktop.audit import AuditLog
from desktop.review_store import ReviewStore
from desktop.watch import WATCH_DB_NAME, WatchState
from tests.conftest import synthetic_xray


def _default_sigint() -> None:
    """In the child before Python starts: SIGINT at its default, so the watch stops on Ctrl+C
    however the suite was started (a suite run as a script's background job inherits SIGINT
    ignored, which the watch keeps, as classify does)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("home")]

N_FILMS = 120
TIMEOUT_S = 90


class Watch:
    """A running ``classify --watch`` whose stderr lines are collected by a thread."""

    def __init__(self, folder: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "desktop", "classify", "--watch", str(folder),
             "--settle", "0.3", *extra], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
            text=True, preexec_fn=_default_sigint)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = TIMEOUT_S) -> re.Match:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None, f"watch exited: {self.seen[-5:]}"
                continue
            self.seen.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"no line matching {pattern!r} in {timeout} s: {self.seen[-5:]}")


def _films(folder: Path, start: int, stop: int) -> list[str]:
    out = []
    for i in range(start, stop):
        sub = folder / f"study{i // 40}"
        sub.mkdir(parents=True, exist_ok=True)
        tmp = sub / f".f{i:03d}.png.part"  # written under a temporary name, then renamed
        Image.fromarray(synthetic_xray(i, pneumonia=i % 3 == 0)).save(tmp, format="PNG")
        os.replace(tmp, sub / f"f{i:03d}.png")
        out.append(str(sub / f"f{i:03d}.png"))
    return out


def test_watch_killed_and_restarted_classifies_each_film_once(tmp_path, home):
    folder = tmp_path / "drop"
    folder.mkdir()
    films = _films(folder, 0, N_FILMS // 2)
    first = Watch(folder)
    first.wait_for(r"^watching .* 0 file\(s\) there classified before")
    films += _films(folder, N_FILMS // 2, N_FILMS)  # copied in while it runs
    first.wait_for(r"^watch \[(2[5-9]|[3-9]\d) classified")
    first.proc.send_signal(signal.SIGKILL)  # mid-way: no clean-up at all
    assert first.proc.wait(10) == -signal.SIGKILL
    done_first = sum(1 for line in first.seen if line.startswith("watch ["))
    assert done_first < N_FILMS

    second = Watch(folder)
    m = second.wait_for(r"^watching .* (\d+) file\(s\) there classified before")
    assert done_first <= int(m.group(1)) < N_FILMS
    rest = N_FILMS - int(m.group(1))
    second.wait_for(rf"^watch \[{rest} classified, \d+ flagged\]")
    second.proc.send_signal(signal.SIGINT)
    summary = second.wait_for(r"^watch stopped \(Ctrl\+C\) after .*: (\d+) file\(s\) classified")
    assert int(summary.group(1)) == rest
    assert second.proc.wait(20) == 0

    data = home / "data" / "review.sqlite3"
    with AuditLog(data) as audit:
        events = audit.all()
    classified = [e.path for e in events if e.action == "classify"]
    assert sorted(classified) == sorted(films), "each film exactly once in the audit trail"
    runs = [e.decision for e in events if e.action == "run:watch"]
    assert runs == ["started", "started", "stopped"]  # the killed run could not say stopped
    flagged = {e.path for e in events if e.action == "classify" and e.decision != "NORMAL"}
    with ReviewStore(data) as store:  # the window's worklist
        assert flagged and {e.path for e in store.entries()} == flagged
    with WatchState(home / "data" / WATCH_DB_NAME) as state:
        assert state.claimed() == []
        assert len(state.done_keys(str(folder))) == N_FILMS


def test_watch_with_an_unverified_model_says_so_first_and_last_and_exits_5(tmp_path):
    from tests.reliability.test_model_pin import flipped_weight_copy

    bad = flipped_weight_copy(tmp_path / "model")
    folder = tmp_path / "drop"
    _films(folder, 0, 1)
    run = Watch(folder, "--model-dir", str(bad))
    run.wait_for(r"warning: UNVERIFIED MODEL")
    run.wait_for(r"^watch \[1 classified")
    run.proc.send_signal(signal.SIGTERM)
    run.wait_for(r"^watch stopped \(SIGTERM\)")
    run.wait_for(r"warning: UNVERIFIED MODEL")
    assert run.proc.wait(20) == 5
