"""The watch folder (issue 25): classify the films that appear in a folder (a PACS export
folder, a scanner's drop folder, and their sub-folders), each once, also across restarts.

Qt-free: the window (:mod:`desktop.qt.watch_actions`, Tools > Watch folder…) and
``classify --watch FOLDER`` (:mod:`desktop.watch_cli`) both use it.

- **Polling**, not file-system events: a scan every second or two works the same on local
  disks and on network shares (SMB/NFS deliver no reliable change events), costs one folder
  listing per poll, and cannot miss a file that arrived while nobody listened.
- **Complete files only**: a file is taken when its size and modification time have stayed the
  same for ``settle_s`` seconds (:data:`SETTLE_S`) and it is not empty; names of files still
  being written (``.part``, ``.tmp``, ``~`` ...: :func:`is_temporary_name`) and hidden files
  are never read. The folder rule of the app (:func:`pneumonia_core.files.iter_image_files`:
  known image suffixes, no suffix, or DICOM content) picks the candidates.
- **Once**: the watch keeps its own memory, :class:`WatchState`, a small SQLite file of its own
  (``watch.sqlite3`` beside the data file; the review store is not touched), keyed by
  path + size + modification time. Before a batch is classified its files are *claimed*
  (committed), after each saved chunk they are *done* (committed). Classification itself goes
  through :func:`desktop.jobs.classify_job` (flags to the worklist and one ``classify`` audit
  event per file, in one transaction per chunk). A process killed between that commit and
  the *done* mark leaves claimed files: at the next start :meth:`WatchState.reconcile` finds
  their ``classify`` events in the audit trail and marks them done instead of classifying them
  again; claimed files without an event are released and classified.
- A file replaced by another one of the same name (new size or time) is a new film and is
  classified again; its worklist entry is replaced (the review list keys on the path).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.sqlite_util import DurableDB, StorageError, read_only_connection, utc_now
from desktop.watch_timing import POLL_S as POLL_S  # re-exported for watch_cli, the window
from desktop.watch_timing import SETTLE_S

if TYPE_CHECKING:  # the rest is imported where used: `classify --help` stays fast
    from desktop.jobs import Discovered, ResultRow, SavedChunk
    from pneumonia_core.decision import OperatingPoint
    from pneumonia_core.model import ModelBundle

log = logging.getLogger(__name__)

#: The watch's own state file, beside the data file (desktop.paths.data_dir()).
WATCH_DB_NAME = "watch.sqlite3"
#: At most this many files per batch, so a huge backlog never holds up a folder the user
#: opens in the window (its job waits for the batch in progress only).
MAX_BATCH = 200

#: Name endings of files still being written by browsers, copy tools, rsync, PACS exports.
TEMP_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".filepart",
                 ".inprogress", ".copying", ".!sync", ".swp", "~")
#: Name beginnings of the same (Office lock files; rsync's ``.name.XXXX`` are hidden anyway).
TEMP_PREFIXES = ("~$", ".")


def is_temporary_name(path: str) -> bool:
    """Whether a file name looks like a file still being written (never read early)."""
    name = os.path.basename(path).lower()
    return name.endswith(TEMP_SUFFIXES) or name.startswith(TEMP_PREFIXES)


def state_path(data_dir: Path) -> Path:
    """The watch's state file in the app's data folder."""
    return data_dir / WATCH_DB_NAME


@dataclass(frozen=True, slots=True)
class FileKey:
    """One version of one file: its path as stored (display text), size and mtime (ns)."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class WatchedFile:
    """A complete file ready to classify: the path to open (``fs_path``) and its key."""

    fs_path: str
    key: FileKey


_SCHEMA = """
CREATE TABLE IF NOT EXISTS watched (
    path      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    state     TEXT NOT NULL,              -- 'claimed' (being classified) or 'done'
    claimed   TEXT NOT NULL,              -- UTC time of the claim
    done      TEXT NOT NULL DEFAULT '',   -- UTC time it was marked done
    status    TEXT NOT NULL DEFAULT '',   -- ok, error, out_of_scope ... (or 'audited')
    flagged   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (path, size, mtime_ns)
)"""


def _schema(db: sqlite3.Connection) -> None:
    db.execute(_SCHEMA)


class WatchError(StorageError):
    """The watch's state file cannot be opened or written (the message names the cause)."""


class WatchState:
    """The watch's memory (see the module docstring). One per thread; every write commits."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._store = DurableDB(self.path, _schema, timeout, WatchError,
                                "the watch folder's state file")
        self._db = self._store.db

    def done_keys(self, folder: str) -> set[FileKey]:
        """The files under ``folder`` classified before (by any run)."""
        from pneumonia_core.files import display_path

        prefix = display_path(os.path.join(folder, ""))
        rows = self._db.execute(
            "SELECT path, size, mtime_ns FROM watched WHERE state='done' AND substr(path, 1, ?)=?",
            (len(prefix), prefix))
        return {FileKey(*r) for r in rows}

    def states(self, keys: Iterable[FileKey]) -> dict[FileKey, str]:
        """The state ('claimed' / 'done') of each key that has one."""
        out: dict[FileKey, str] = {}
        for k in keys:
            row = self._db.execute(
                "SELECT state FROM watched WHERE path=? AND size=? AND mtime_ns=?",
                (k.path, k.size, k.mtime_ns)).fetchone()
            if row is not None:
                out[k] = row[0]
        return out

    def claim(self, keys: Iterable[FileKey]) -> set[FileKey]:
        """Record that these files are being classified now (one transaction); returns those
        claimed here: not those already claimed or done (by another watch of the folder)."""
        now = utc_now()
        claimed: set[FileKey] = set()
        with self._store.transaction() as db:
            for k in keys:
                cur = db.execute("INSERT OR IGNORE INTO watched (path, size, mtime_ns, state, "
                                 "claimed) VALUES (?, ?, ?, 'claimed', ?)",
                                 (k.path, k.size, k.mtime_ns, now))
                if cur.rowcount == 1:
                    claimed.add(k)
        return claimed

    def mark_done(self, done: Iterable[tuple[FileKey, str, bool]]) -> None:
        """Record files as classified: (key, status, flagged), one transaction."""
        now = utc_now()
        with self._store.transaction() as db:
            db.executemany(
                "INSERT INTO watched (path, size, mtime_ns, state, claimed, done, status, flagged) "
                "VALUES (?, ?, ?, 'done', ?, ?, ?, ?) ON CONFLICT (path, size, mtime_ns) DO "
                "UPDATE SET state='done', done=excluded.done, status=excluded.status, "
                "flagged=excluded.flagged",
                [(k.path, k.size, k.mtime_ns, now, now, status, int(flagged))
                 for k, status, flagged in done])

    def release(self, keys: Iterable[FileKey]) -> None:
        """Forget claims that were not finished (a cancelled or failed batch)."""
        with self._store.transaction() as db:
            db.executemany("DELETE FROM watched WHERE path=? AND size=? AND mtime_ns=? "
                           "AND state='claimed'", [(k.path, k.size, k.mtime_ns) for k in keys])

    def claimed(self) -> list[tuple[FileKey, str]]:
        """Claims not marked done: (key, time of the claim)."""
        rows = self._db.execute("SELECT path, size, mtime_ns, claimed FROM watched "
                                "WHERE state='claimed' ORDER BY claimed")
        return [(FileKey(p, s, m), t) for p, s, m, t in rows]

    def reconcile(self, data_file: Path, keys: Iterable[FileKey] | None = None
                  ) -> tuple[int, int]:
        """Settle claims (all, or those of ``keys``) of a run that stopped between
        classifying and marking: a claimed file with a ``classify`` event in the audit trail
        of ``data_file`` since its claim was classified and saved then: it is marked done,
        not classified again; the others are released. Returns (marked done, released)."""
        left = self.claimed()
        if keys is not None:
            wanted = set(keys)
            left = [(k, t) for k, t in left if k in wanted]
        if not left:
            return 0, 0
        latest: dict[str, str] = {}
        if data_file.exists():
            with read_only_connection(data_file) as con:
                latest = dict(con.execute(
                    "SELECT path, MAX(time) FROM audit WHERE action='classify' AND time>=? "
                    "GROUP BY path", (min(t for _, t in left),)))
        finished = [(k, "audited", False) for k, t in left if latest.get(k.path, "") >= t]
        rest = [k for k, t in left if latest.get(k.path, "") < t]
        if finished:
            self.mark_done(finished)
        if rest:
            self.release(rest)
        if keys is None:
            log.info("watch folder: %d file(s) classified before a stop marked done, %d "
                     "released to be classified", len(finished), len(rest))
        return len(finished), len(rest)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> WatchState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FolderWatcher:
    """Finds the complete, not yet classified films under one folder (see the module
    docstring). :meth:`poll` does one scan; call it every :data:`POLL_S` seconds, from one
    thread at a time."""

    def __init__(self, folder: str | os.PathLike[str], state: WatchState,
                 settle_s: float = SETTLE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = os.path.abspath(os.fspath(folder))
        self.state = state
        self.settle_s = settle_s
        self.clock = clock
        #: path -> (size, mtime_ns, since when unchanged)
        self._seen: dict[str, tuple[int, int, float]] = {}
        self._done: set[FileKey] = state.done_keys(self.folder)
        self._busy: set[FileKey] = set()  # handed out by poll, not known to be done yet
        #: Why the last scan failed ('' when it did not): the folder is missing or unreadable.
        self.problem = ""
        self.waiting = 0  # files seen but not complete yet (last scan)

    @property
    def known_done(self) -> int:
        """Files under the folder classified so far (this run and earlier ones)."""
        return len(self._done)

    def _settle_busy(self) -> None:
        """Files handed out before: done ones are remembered; claimed ones (being classified)
        stay out; the others (a cancelled batch, a job that never started) become candidates
        again."""
        if not self._busy:
            return
        states = self.state.states(self._busy)
        self._done |= {k for k, s in states.items() if s == "done"}
        self._busy = {k for k, s in states.items() if s == "claimed"}

    def poll(self, limit: int = MAX_BATCH) -> list[WatchedFile]:
        """One scan: the complete files not classified yet (at most ``limit``, oldest
        arrivals first). A file handed out is not handed out again while claimed by its job
        (:func:`watch_job` claims first) nor once done."""
        from pneumonia_core.files import display_path, iter_image_files

        self._settle_busy()
        now = self.clock()
        if not os.path.isdir(self.folder):
            self.problem = f"the folder {display_path(self.folder)} cannot be reached"
            return []
        self.problem = ""
        seen: dict[str, tuple[int, int, float]] = {}
        ready: list[tuple[float, WatchedFile]] = []
        waiting = 0
        for path in iter_image_files([self.folder]):
            if is_temporary_name(path):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue  # gone between the listing and now
            if not os.path.isfile(path):
                continue  # a sub-folder that cannot be listed (logged by the scan)
            key = FileKey(display_path(path), st.st_size, st.st_mtime_ns)
            if key in self._done or key in self._busy:
                continue
            before = self._seen.get(path)
            since = before[2] if before and before[:2] == (st.st_size, st.st_mtime_ns) else now
            seen[path] = (st.st_size, st.st_mtime_ns, since)
            if st.st_size > 0 and now - since >= self.settle_s:
                ready.append((since, WatchedFile(path, key)))
            else:
                waiting += 1
        self._seen = seen
        ready.sort(key=lambda item: item[0])
        batch = [f for _, f in ready[:limit]]
        self.waiting = waiting + len(ready) - len(batch)
        self._busy |= {f.key for f in batch}
        return batch


def watch_job(paths: list[str], bundle: ModelBundle | None,
              operating_point: OperatingPoint | float | None, db: Path, workers: int = 1, *,
              files: list[WatchedFile], state_file: Path
              ) -> Iterator[Discovered | SavedChunk]:
    """:func:`desktop.jobs.classify_job` for watched files (``paths``: their ``fs_path``):
    claims them first and marks each saved chunk done, so no file is classified twice, also
    when the process is killed (see :meth:`WatchState.reconcile`). Stopped early (closed),
    the files not reached are released for the next scan."""
    from desktop.jobs import SavedChunk, classify_job

    keys = {f.fs_path: f.key for f in files}
    state = WatchState(state_file)
    marked: set[FileKey] = set()
    try:
        ours = state.claim(keys[p] for p in paths)
        keys = {p: k for p, k in keys.items() if k in ours}
        paths = [p for p in paths if p in keys]
        for event in classify_job(paths, bundle, operating_point, db, workers=workers):
            if isinstance(event, SavedChunk):
                done = [(keys[c.row.path], c.row.status, c.row.flagged) for c in event.items
                        if c.row.path in keys]
                state.mark_done(done)
                marked.update(k for k, _, _ in done)
            yield event
    finally:
        try:  # saved but not marked (stopped in between): done; not reached: released
            state.reconcile(db, [k for k in keys.values() if k not in marked])
        finally:
            state.close()


def describe_row(row: ResultRow) -> str:
    """One line for the log and the command line: 'PNEUMONIA P 0.934, flagged'."""
    if row.status == "ok" and row.probability is not None:
        text = f"{row.prediction} P {row.probability:.3f}"
    else:
        text = f"{row.status}: {row.message}" if row.message else row.status
    return text + (", flagged for review" if row.flagged else "")
