"""The flagged-for-review list, persisted in SQLite (Qt-free).

One row per flagged file, keyed by ``(path, file_sha256)``: the same path with other content
is another entry. Durability: WAL journal, ``synchronous=FULL``, autocommit connection and
one ``BEGIN IMMEDIATE ... COMMIT`` transaction per change, so a change that returned has
reached the disk and a killed process loses nothing it reported as saved.

API (small on purpose; other code such as crash tests may use it from another process)::

    store = ReviewStore(path)                        # creates the file/schema if needed
    store.upsert(FlagEntry(path=..., file_sha256=..., status="ok", probability=0.91, ...))
    store.upsert_many([...])                         # several entries, one transaction
    store.set_review(path, sha, "reviewed", "seen by Dr X")   # pending|reviewed|dismissed
    store.entries()                                  # most likely first
    store.export_csv(out_path)
    store.close()

Several connections (threads or processes) may share one file; each thread must use its own
:class:`ReviewStore`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from desktop.sqlite_util import (
    close_quietly,
    immediate_transaction,
    open_durable,
    write_csv_atomic,
)

log = logging.getLogger(__name__)

REVIEW_STATES = ("pending", "reviewed", "dismissed")
STATUSES = ("ok", "error", "out_of_scope")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS flags (
    path          TEXT NOT NULL,
    file_sha256   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('ok', 'error', 'out_of_scope')),
    probability   REAL,
    prediction    TEXT NOT NULL DEFAULT '',
    message       TEXT NOT NULL DEFAULT '',
    threshold     REAL,
    model_sha256  TEXT NOT NULL DEFAULT '',
    review_state  TEXT NOT NULL DEFAULT 'pending'
                  CHECK (review_state IN ('pending', 'reviewed', 'dismissed')),
    note          TEXT NOT NULL DEFAULT '',
    reviewed_at   TEXT NOT NULL DEFAULT '',
    flagged_at    TEXT NOT NULL,
    PRIMARY KEY (path, file_sha256)
);
"""

#: Most likely first: entries with a probability by descending probability, then the entries
#: the model could not assess (error, out of scope), then by path.
_ORDER = "ORDER BY probability IS NULL, probability DESC, path, file_sha256"


def utc_now() -> str:
    """ISO 8601 UTC time with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class FlagEntry:
    """One flagged file. ``probability`` is None for error and out-of-scope entries."""

    path: str
    file_sha256: str
    status: str
    probability: float | None = None
    prediction: str = ""
    message: str = ""
    threshold: float | None = None
    model_sha256: str = ""
    review_state: str = "pending"
    note: str = ""
    reviewed_at: str = ""
    flagged_at: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.path, self.file_sha256)

    def sort_key(self) -> tuple:
        """The order of :meth:`ReviewStore.entries` (most likely first)."""
        p = self.probability
        return (p is None, -(p or 0.0), self.path, self.file_sha256)


_COLUMNS = [f.name for f in fields(FlagEntry)]


class ReviewStoreError(RuntimeError):
    """The review list cannot be opened or written; the message is meant for the user."""


class ReviewStore:
    """SQLite-backed flagged-for-review list. Not shared between threads."""

    def __init__(self, path: str | os.PathLike[str], timeout: float = 30.0) -> None:
        self.path = Path(path)
        try:
            self._db = open_durable(self.path, _SCHEMA, timeout)
        except (OSError, sqlite3.Error) as exc:
            raise ReviewStoreError(f"Cannot open the review list {self.path}: {exc}") from None

    # -- writes: one transaction each ----------------------------------------------------
    def _write(self, sql: str, params: tuple) -> int:
        try:
            with immediate_transaction(self._db):
                cur = self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise ReviewStoreError(f"Cannot save to the review list {self.path}: {exc}") from None
        return cur.rowcount

    _UPSERT = (
        f"INSERT INTO flags ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
        "ON CONFLICT (path, file_sha256) DO UPDATE SET status=excluded.status, "
        "probability=excluded.probability, prediction=excluded.prediction, "
        "message=excluded.message, threshold=excluded.threshold, "
        "model_sha256=excluded.model_sha256"
    )

    @staticmethod
    def _checked(entry: FlagEntry) -> tuple:
        if entry.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}; received {entry.status!r}")
        if entry.review_state not in REVIEW_STATES:
            raise ValueError(
                f"review_state must be one of {REVIEW_STATES}; received {entry.review_state!r}"
            )
        e = FlagEntry(**asdict(entry))
        e.flagged_at = e.flagged_at or utc_now()
        return tuple(getattr(e, c) for c in _COLUMNS)

    def upsert(self, entry: FlagEntry) -> FlagEntry:
        """Add a flagged file, or refresh its classification fields (status, probability,
        prediction, message, threshold, model) keeping its review state and note.
        Returns the stored entry."""
        return self.upsert_many([entry])[0]

    def upsert_many(self, entries: list[FlagEntry]) -> list[FlagEntry]:
        """:meth:`upsert` for several entries in ONE transaction (all or none are saved);
        the classification job saves each chunk of results this way before showing it."""
        if not entries:
            return []
        params = [self._checked(e) for e in entries]
        try:
            with immediate_transaction(self._db):
                self._db.executemany(self._UPSERT, params)
        except sqlite3.Error as exc:
            raise ReviewStoreError(f"Cannot save to the review list {self.path}: {exc}") from None
        stored = [self.get(e.path, e.file_sha256) for e in entries]
        assert all(s is not None for s in stored)
        return stored  # type: ignore[return-value]

    def set_review(self, path: str, file_sha256: str, state: str, note: str = "") -> FlagEntry:
        """Mark an entry pending, reviewed or dismissed with a note; returns the entry.

        Raises KeyError when the entry does not exist."""
        if state not in REVIEW_STATES:
            raise ValueError(f"state must be one of {REVIEW_STATES}; received {state!r}")
        when = utc_now() if state != "pending" else ""
        n = self._write(
            "UPDATE flags SET review_state=?, note=?, reviewed_at=? WHERE path=? AND file_sha256=?",
            (state, note, when, path, file_sha256),
        )
        if n == 0:
            raise KeyError(f"no flagged entry for {path} ({file_sha256[:12]})")
        stored = self.get(path, file_sha256)
        assert stored is not None
        return stored

    def remove_pending(self, path: str, file_sha256: str) -> bool:
        """Drop an entry that is no longer flagged (e.g. after a threshold change), but only
        while nobody has reviewed it. Returns True when a row was removed."""
        return self._write(
            "DELETE FROM flags WHERE path=? AND file_sha256=? AND review_state='pending'",
            (path, file_sha256),
        ) > 0

    # -- reads ---------------------------------------------------------------------------
    def get(self, path: str, file_sha256: str) -> FlagEntry | None:
        row = self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM flags WHERE path=? AND file_sha256=?",
            (path, file_sha256),
        ).fetchone()
        return None if row is None else FlagEntry(*row)

    def entries(self, states: tuple[str, ...] = REVIEW_STATES) -> list[FlagEntry]:
        """All entries in the given review states, most likely first."""
        marks = ", ".join("?" * len(states))
        rows = self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM flags WHERE review_state IN ({marks}) {_ORDER}",
            tuple(states),
        ).fetchall()
        return [FlagEntry(*r) for r in rows]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM flags").fetchone()[0])

    def integrity_ok(self) -> bool:
        """SQLite's own integrity check of the file."""
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # -- export --------------------------------------------------------------------------
    def export_csv(self, dest: str | os.PathLike[str]) -> int:
        """Write all entries (most likely first) as UTF-8 CSV with a header; returns rows."""
        entries = self.entries()
        n = write_csv_atomic(dest, _COLUMNS, ([getattr(e, c) for c in _COLUMNS] for e in entries))
        log.info("exported %d review entries to %s", n, dest)
        return n

    def close(self) -> None:
        close_quietly(self._db, self.path)

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
