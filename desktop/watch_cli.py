"""``classify --watch FOLDER``: the watch folder on the command line (see :mod:`desktop.watch`).

Runs until Ctrl+C (or SIGTERM, e.g. a service stop): each complete new film under FOLDER is
classified once, flagged ones go to the worklist of the window (the app's data file) and every
result to the audit trail, exactly as when the window's watch does it. One line per file on
stderr, terminal or not (``watch [12 classified, 3 flagged] a/b.dcm: PNEUMONIA P 0.934,
flagged for review``), also in the log file; a stop ends the file in progress's chunk, then
prints a summary and exits 0. Killed (SIGKILL, power cut), the next start resumes without
classifying any file twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from desktop.jobs import ResultRow
    from desktop.operating_point import Resolution
    from pneumonia_core.model import ModelBundle

log = logging.getLogger(__name__)


class _Stop:
    """Set by the first Ctrl+C / SIGTERM: the loop stops at the next chunk boundary. A second
    Ctrl+C interrupts at once (the next start settles what was left, see WatchState.reconcile)."""

    def __init__(self) -> None:
        self.requested = ""

    def __call__(self, signum: int, _frame: object) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = "Ctrl+C" if signum == signal.SIGINT else "SIGTERM"

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.requested and time.monotonic() < end:
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))


@contextlib.contextmanager
def _handle_stops(stop: _Stop) -> Iterator[None]:
    """``stop`` handles SIGTERM and Ctrl-C while the watch runs, by classify's rule
    (:func:`desktop.stop_signals.stop_signal_handlers`: a signal the process ignores stays
    ignored)."""
    from desktop.stop_signals import stop_signal_handlers

    with stop_signal_handlers(stop):
        yield


def _relative(path: str, folder: str) -> str:
    from pneumonia_core.files import display_path

    try:
        return display_path(os.path.relpath(path, folder))
    except ValueError:  # another drive (Windows)
        return display_path(path)


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def run_watch(folder: Path, bundle: ModelBundle, resolution: Resolution, stderr: TextIO,
              prog: str, workers: int, settle_s: float, poll_s: float | None = None,
              model_warning: str = "") -> int:
    """Watch ``folder`` until stopped; returns the exit status (0 after a clean stop, 1 when
    the data file or the watch's state cannot be written). ``model_warning``: said first and
    last (an unverified model folder)."""
    from desktop import paths
    from desktop.audit import AuditEvent, AuditLog
    from desktop.sqlite_util import StorageError
    from desktop.watch import POLL_S, FolderWatcher, WatchState, state_path, watch_job
    from pneumonia_core.files import display_path

    poll_s = POLL_S if poll_s is None else poll_s
    data_file = paths.review_db_path()
    state_file = state_path(paths.data_dir())
    shown = display_path(os.path.abspath(folder))
    counts: Counter[str] = Counter()
    flagged = 0
    stop = _Stop()
    started = time.monotonic()

    def say(line: str) -> None:
        stderr.write(line + "\n")
        stderr.flush()
        log.info("%s", line)

    def audit(decision: str, note: str) -> None:
        from desktop.machine_config import load_settings
        from desktop.model_change import note_machine_settings, note_model

        with AuditLog(data_file) as trail:
            if decision == "started":
                note_machine_settings(trail, load_settings())
                announced = note_model(trail, bundle.metadata) if bundle.verified else ""
                if announced:
                    say(f"{prog}: {announced}")
            trail.append(AuditEvent(
                action="run:watch", path=shown, model_sha256=bundle.metadata.sha256,
                threshold=resolution.threshold, decision=decision, note=note,
                details={"counts": dict(counts), "flagged": flagged, "settle_s": settle_s,
                         **bundle.verification.audit_details()}))

    if model_warning:
        say(f"{prog}: warning: {model_warning}")
    try:
        audit("started", f"watching {shown}; operating point: {resolution.describe()}")
        state = WatchState(state_file)
    except StorageError as exc:
        stderr.write(f"{prog}: error: {exc}\n")
        return 1
    try:
        resumed, _released = state.reconcile(data_file)
        watcher = FolderWatcher(folder, state, settle_s=settle_s)
        before = watcher.known_done
        say(f"watching {shown} and its sub-folders (a file is read once unchanged for "
            f"{settle_s:g} s); {before} file(s) there classified before"
            + (f", {resumed} of them finished just before the last stop" if resumed else "")
            + f"; operating point: {resolution.describe()}. Ctrl+C stops.")
        problem = ""
        with _handle_stops(stop):
            while not stop.requested:
                files = watcher.poll()
                if watcher.problem != problem:
                    problem = watcher.problem
                    say(f"watch: warning: {problem}; still trying" if problem
                        else f"watch: {shown} can be reached again")
                if not files:
                    stop.sleep(poll_s)
                    continue
                job = watch_job([f.fs_path for f in files], bundle, resolution.point,
                                data_file, workers, files=files, state_file=state_file)
                with contextlib.closing(job):
                    for event in job:
                        for c in getattr(event, "items", ()):
                            counts[c.row.status] += 1
                            flagged += c.row.flagged
                            say(_line(c.row, sum(counts.values()), flagged, folder))
                        if stop.requested:
                            break
    except KeyboardInterrupt:
        stop.requested = "Ctrl+C twice"
    except StorageError as exc:
        stderr.write(f"{prog}: error: watch stopped: {exc}\n")
        return 1
    finally:
        state.close()
    n = sum(counts.values())
    summary = (f"watch stopped ({stop.requested or 'ended'}) after {_duration(time.monotonic() - started)}: "
               f"{n} file(s) classified in {shown} ("
               + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ("" if n else "none")
               + f"), {flagged} flagged for review -> the worklist")
    say(summary)
    if model_warning:
        say(f"{prog}: warning: {model_warning}")
    try:
        audit("stopped", summary)
    except StorageError as exc:
        stderr.write(f"{prog}: warning: the watch run could not be recorded in the audit trail: "
                     f"{exc}\n")
    return 0


def _line(row: ResultRow, n: int, flagged: int, folder: Path) -> str:
    from desktop.watch import describe_row

    return (f"watch [{n} classified, {flagged} flagged] "
            f"{_relative(row.path, os.path.abspath(folder))}: {describe_row(row)}")
