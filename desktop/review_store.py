"""The flagged-for-review list, persisted in SQLite (Qt-free).

One row per flagged file, keyed by ``(path, file_sha256)``: the same path with other content
is another entry. The list and the audit trail (:mod:`desktop.audit`) share ONE database file,
so a mark and its audit event, or flagged entries and their classification events, commit in
one transaction. Durability: WAL journal, ``synchronous=FULL``, autocommit connection and one
``BEGIN IMMEDIATE ... COMMIT`` per change; storage faults (deleted, read-only, full) raise
:class:`ReviewStoreError` naming the cause (see :mod:`desktop.sqlite_util`).

API (small on purpose; other code such as crash tests may use it from another process)::

    store = ReviewStore(path)                        # creates the file/schema if needed
    store.upsert(FlagEntry(path=..., file_sha256=..., status="ok", probability=0.91, ...))
    store.upsert_many([...], audit=[AuditEvent...])  # entries + events, one transaction
    result = store.mark(entry, "pending", "reviewed", "seen by Dr X")   # compare-and-set
    result.applied / result.conflict / result.entry  # entry: what the database holds now
    store.set_review(path, sha, "reviewed", "note")  # unconditional (scripts, tests)
    store.entries()                                  # most likely first
    store.export_csv(out_path)
    store.close()

Several windows (threads, processes) may share one file: :meth:`ReviewStore.mark` applies
only when the entry is still in the state the caller showed (same ``review_state`` and
``revision``; every mark increments ``revision``); otherwise nothing is written and the
result carries the entry as it now is, for the window to show. Each mark records the
reviewer (the OS account unless given) in the entry and in its audit event.
Each thread must use its own :class:`ReviewStore`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace

from desktop import findings as reader_findings
from desktop import identifiers as dicom_identifiers
from desktop.audit import AuditEvent, current_user, insert_events
from desktop.audit import ensure_schema as ensure_audit_schema
from desktop.csv_safe import write_csv_atomic
from desktop.sqlite_util import DurableDB, StorageError, columns_of, utc_now
from pneumonia_core.decision import at_or_above

log = logging.getLogger(__name__)

__all__ = ["REVIEW_STATES", "STATUSES", "FlagEntry", "MarkResult", "ReviewStore",
           "ReviewStoreError", "archive_folder", "archived_folders", "entry_folder", "utc_now"]

REVIEW_STATES = ("pending", "reviewed", "dismissed")
STATUSES = ("ok", "error", "out_of_scope", "outside_intended_use")

_TABLE = """
CREATE TABLE IF NOT EXISTS flags (
    path          TEXT NOT NULL,
    file_sha256   TEXT NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status IN ('ok', 'error', 'out_of_scope', 'outside_intended_use')),
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
    reviewer      TEXT NOT NULL DEFAULT '',
    revision      INTEGER NOT NULL DEFAULT 0,
    fs_path       BLOB,
    origin        TEXT NOT NULL DEFAULT 'model',
    PRIMARY KEY (path, file_sha256)
)"""

#: Columns added after the first release: (name, definition) for ALTER TABLE. ``origin``
#: (data format 2, issue 25): "model" (flagged) or "reader" (a reader's finding put it there).
_ADDED = [("reviewer", "TEXT NOT NULL DEFAULT ''"), ("revision", "INTEGER NOT NULL DEFAULT 0"),
          ("fs_path", "BLOB"), ("origin", "TEXT NOT NULL DEFAULT 'model'")]


def _ensure_schema(db: sqlite3.Connection) -> None:
    db.execute(_TABLE)
    have = columns_of(db, "flags")
    for name, definition in _ADDED:
        if name not in have:
            db.execute(f"ALTER TABLE flags ADD COLUMN {name} {definition}")
    _widen_status_check(db)
    db.execute(reader_findings.SCHEMA)  # data format 2: reader findings (desktop.findings)
    _add_identifiers_column(db)
    ensure_audit_schema(db)
    db.execute(_ARCHIVE_TABLE)  # reader: archived folders (see "Reader: batches" below)


def _widen_status_check(db: sqlite3.Connection) -> None:
    """A flags table made before the ``outside_intended_use`` status (issue 21) has a CHECK
    that refuses it; SQLite cannot alter a CHECK, so the table is rebuilt with every row."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'flags'"
                     ).fetchone()
    if row is None or "outside_intended_use" in row[0]:
        return
    cols = ", ".join(columns_of(db, "flags"))
    db.execute(_TABLE.replace("IF NOT EXISTS flags", "flags_widened"))
    db.execute(f"INSERT INTO flags_widened ({cols}) SELECT {cols} FROM flags")
    db.execute("DROP TABLE flags")
    db.execute("ALTER TABLE flags_widened RENAME TO flags")
    log.info("review store: flags table rebuilt to accept the outside_intended_use status")


def _add_identifiers_column(db: sqlite3.Connection) -> None:
    """Issue 25 (PACS-friendly exports): the entry's DICOM identifiers, one text column (JSON,
    :func:`desktop.identifiers.to_text`; '' for files without any), added to older files."""
    if "identifiers" not in columns_of(db, "flags"):
        db.execute("ALTER TABLE flags ADD COLUMN identifiers TEXT NOT NULL DEFAULT ''")


#: Most likely first: entries with a probability by descending probability, then the entries
#: the model could not assess (error, out of scope), then by path.
_ORDER = ("ORDER BY flags.probability IS NULL, flags.probability DESC, flags.path, "
          "flags.file_sha256")
#: An entry a change of operating point may drop: still pending, put there by the model, and
#: with no reader finding (a reader's finding is never dropped with it).
_DROPPABLE = ("review_state='pending' AND origin='model' AND NOT EXISTS (SELECT 1 FROM "
              "findings f WHERE f.path=flags.path AND f.file_sha256=flags.file_sha256)")


@dataclass
class FlagEntry:
    """One flagged file. ``probability`` is None for error and out-of-scope entries.

    ``path`` is display text (:func:`pneumonia_core.files.display_path`); ``fs_path`` the
    file name's exact bytes when they are not valid UTF-8 (else None): open the file with
    :attr:`open_path`. ``revision`` counts the marks; ``reviewer`` made the last one."""

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
    reviewer: str = ""
    revision: int = 0
    fs_path: bytes | None = None
    origin: str = reader_findings.ORIGIN_MODEL
    #: DICOM identifiers as stored text (:func:`desktop.identifiers.to_text`); '' when none.
    identifiers: str = ""
    #: The reader finding recorded on the film (desktop.findings; read from the findings
    #: table, not stored in the entry): value, note, reviewer, time; "" when none.
    finding: str = ""
    finding_note: str = ""
    finding_reviewer: str = ""
    finding_at: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.path, self.file_sha256)

    @property
    def model_flagged(self) -> bool:
        """Whether the model flags the film at the entry's stored result: an entry it could
        not assess, or P at or above the threshold (THE rule, pneumonia_core.decision); False
        for a film only a reader's finding put on the list."""
        if self.status != "ok":
            return True
        return (self.probability is not None and self.threshold is not None
                and bool(at_or_above(self.probability, self.threshold)))

    @property
    def open_path(self) -> str:
        """The path to open the file with (exact bytes for non-UTF-8 names)."""
        return os.fsdecode(self.fs_path) if self.fs_path else self.path

    def sort_key(self) -> tuple:
        """The order of :meth:`ReviewStore.entries` (most likely first)."""
        p = self.probability
        return (p is None, -(p or 0.0), self.path, self.file_sha256)

    def reading_key(self) -> tuple:
        """The worklist's reading order, which the exports follow too: the entries the model
        could not assess first (each needs a human read), then the most likely."""
        p = self.probability
        return (p is not None, -(p or 0.0), self.path, self.file_sha256)


_FINDING_FIELDS = ["finding", "finding_note", "finding_reviewer", "finding_at"]
#: Stored columns of the flags table (the finding fields come from the findings table).
_COLUMNS = [f.name for f in fields(FlagEntry) if f.name not in _FINDING_FIELDS]
#: SELECT list giving a FlagEntry: the entry's columns, then its finding's.
_SELECT = (", ".join(f"flags.{c}" for c in _COLUMNS) + ", COALESCE(f.finding, ''), "
           "COALESCE(f.note, ''), COALESCE(f.reviewer, ''), COALESCE(f.recorded_at, '') "
           "FROM flags LEFT JOIN findings f ON f.path=flags.path "
           "AND f.file_sha256=flags.file_sha256")
#: Columns of the CSV export (the raw bytes of a name are not exported; ``path`` shows them
#: as ``\xNN`` escapes), then one column per DICOM identifier (desktop/identifiers.py).
_EXPORTED = [f.name for f in fields(FlagEntry) if f.name not in ("fs_path", "identifiers")]
EXPORT_COLUMNS = [*_EXPORTED, *dicom_identifiers.COLUMNS]


class ReviewStoreError(StorageError):
    """The review list cannot be opened or written; the message is meant for the user."""


@dataclass(frozen=True)
class MarkResult:
    """The outcome of :meth:`ReviewStore.mark`. ``entry`` is what the database holds after
    the call (None when the entry no longer exists); ``message`` explains a conflict."""

    applied: bool
    entry: FlagEntry | None
    message: str = ""
    event: AuditEvent | None = None

    @property
    def conflict(self) -> bool:
        return not self.applied


def fs_bytes_of(path: str | os.PathLike[str]) -> bytes | None:
    """The raw bytes of a file name that is not valid UTF-8, else None (nothing to keep)."""
    p = os.fspath(path)
    if isinstance(p, bytes):
        raw = p
    else:
        try:
            p.encode("utf-8")
            return None
        except UnicodeEncodeError:
            raw = os.fsencode(p)
    try:
        raw.decode("utf-8")
        return None
    except UnicodeDecodeError:
        return raw


class ReviewStore:
    """SQLite-backed flagged-for-review list. Not shared between threads."""

    def __init__(self, path: str | os.PathLike[str], timeout: float = 30.0) -> None:
        self._store = DurableDB(path, _ensure_schema, timeout, ReviewStoreError,
                                "the review list")
        self.path = self._store.path
        self._db = self._store.db
        self._user = current_user()
        from desktop import audit_anchor

        self._store.after_commit = lambda: audit_anchor.record(self._db, self.path)

    # -- writes: one transaction each ----------------------------------------------------
    _UPSERT = (
        f"INSERT INTO flags ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
        "ON CONFLICT (path, file_sha256) DO UPDATE SET status=excluded.status, "
        "probability=excluded.probability, prediction=excluded.prediction, "
        "message=excluded.message, threshold=excluded.threshold, "
        "model_sha256=excluded.model_sha256, fs_path=excluded.fs_path, "
        # identifiers are only added, never erased by a row that came without them
        "identifiers=CASE WHEN excluded.identifiers != '' THEN excluded.identifiers "
        "ELSE flags.identifiers END"
    )

    @staticmethod
    def _checked(entry: FlagEntry) -> tuple:
        if entry.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}; received {entry.status!r}")
        if entry.review_state not in REVIEW_STATES:
            raise ValueError(
                f"review_state must be one of {REVIEW_STATES}; received {entry.review_state!r}"
            )
        if entry.origin not in (reader_findings.ORIGIN_MODEL, reader_findings.ORIGIN_READER):
            raise ValueError(f"origin must be model or reader; received {entry.origin!r}")
        e = FlagEntry(**asdict(entry))
        e.flagged_at = e.flagged_at or utc_now()
        return tuple(getattr(e, c) for c in _COLUMNS)

    def upsert(self, entry: FlagEntry) -> FlagEntry:
        """Add a flagged file, or refresh its classification fields (status, probability,
        prediction, message, threshold, model) keeping its review state and note.
        Returns the stored entry."""
        return self.upsert_many([entry])[0]

    def upsert_many(self, entries: list[FlagEntry], audit: Iterable[AuditEvent] = ()
                    ) -> list[FlagEntry]:
        """:meth:`upsert` for several entries, plus the ``audit`` events, in ONE transaction
        (all or none are saved); the classification job saves each chunk of results (flags
        and classification events) this way before showing it."""
        params = [self._checked(e) for e in entries]
        events = list(audit)
        if not params and not events:
            return []
        with self._store.transaction() as db:
            if params:
                db.executemany(self._UPSERT, params)
            if events:
                insert_events(db, events, self._user)
        stored = [self.get(e.path, e.file_sha256) for e in entries]
        assert all(s is not None for s in stored)
        return stored  # type: ignore[return-value]

    def mark(self, entry: FlagEntry, expected_state: str, new_state: str, note: str = "",
             reviewer: str | None = None) -> MarkResult:
        """Compare-and-set review mark: set ``new_state`` and ``note`` only if the entry is
        still in ``expected_state`` at ``entry.revision`` (what the caller showed). The mark
        and its ``review:<state>`` audit event (reviewer, note, previous state) commit in one
        transaction. On a conflict nothing is written and the result holds the entry as it
        now is. ``reviewer`` defaults to the OS account. Raises ReviewStoreError when the
        data file cannot be written."""
        for s in (expected_state, new_state):
            if s not in REVIEW_STATES:
                raise ValueError(f"state must be one of {REVIEW_STATES}; received {s!r}")
        who = self._user if reviewer is None else reviewer
        when = utc_now() if new_state != "pending" else ""
        event = None
        with self._store.transaction() as db:
            cur = db.execute(
                "UPDATE flags SET review_state=?, note=?, reviewed_at=?, reviewer=?, "
                "revision=revision+1 WHERE path=? AND file_sha256=? AND review_state=? "
                "AND revision=?",
                (new_state, note, when, who, entry.path, entry.file_sha256, expected_state,
                 int(entry.revision)))
            if cur.rowcount == 1:
                [event] = insert_events(db, [AuditEvent(
                    action=f"review:{new_state}", path=entry.path,
                    file_sha256=entry.file_sha256, model_sha256=entry.model_sha256,
                    probability=entry.probability, threshold=entry.threshold,
                    decision=entry.prediction if entry.status == "ok" else entry.status,
                    note=note, user=who,
                    details={"from": expected_state, "revision": int(entry.revision) + 1})],
                    self._user)
        stored = self.get(entry.path, entry.file_sha256)
        if event is not None:
            return MarkResult(True, stored, "", event)
        if stored is None:
            message = f"{entry.path} is no longer in the review list (removed elsewhere)"
        else:
            by = f" by {stored.reviewer}" if stored.reviewer else ""
            at = (f" at {stored.reviewed_at[:19].replace('T', ' ')} UTC"
                  if stored.reviewed_at else "")
            message = (f"{os.path.basename(entry.path)} was changed in another window{by}{at}: "
                       f"it is now {stored.review_state}"
                       + (f" ({stored.note})" if stored.note else "")
                       + f", not {expected_state}. Your mark was not saved; the entry now "
                       "shows its current state.")
        log.info("mark conflict: %s", message)
        return MarkResult(False, stored, message)

    def set_review(self, path: str, file_sha256: str, state: str, note: str = "",
                   reviewer: str | None = None) -> FlagEntry:
        """Mark an entry pending, reviewed or dismissed with a note, whatever its current
        state (audited like :meth:`mark`); returns the entry. Windows use :meth:`mark`.

        Raises KeyError when the entry does not exist."""
        if state not in REVIEW_STATES:
            raise ValueError(f"state must be one of {REVIEW_STATES}; received {state!r}")
        for _ in range(100):
            current = self.get(path, file_sha256)
            if current is None:
                raise KeyError(f"no flagged entry for {path} ({file_sha256[:12]})")
            result = self.mark(current, current.review_state, state, note, reviewer)
            if result.applied:
                assert result.entry is not None
                return result.entry
        raise ReviewStoreError(f"Cannot save to the review list {self.path}: the entry keeps "
                               "changing in another window")

    def apply_threshold_change(self, added: list[FlagEntry], dropped: list[tuple[str, str]],
                               event: AuditEvent | None) -> list[FlagEntry]:
        """After a change of operating point, in ONE transaction: add (or refresh) the flagged
        entries, drop the ``(path, sha)`` entries no longer flagged while still pending, and
        append ``event`` (None: rows of a batch re-decided on arrival, no new event). Returns
        the stored added entries."""
        params = [self._checked(e) for e in added]
        with self._store.transaction() as db:
            if params:
                db.executemany(self._UPSERT, params)
            db.executemany(f"DELETE FROM flags WHERE path=? AND file_sha256=? AND {_DROPPABLE}",
                           list(dropped))
            if event is not None:
                insert_events(db, [event], self._user)
        return [e for e in (self.get(a.path, a.file_sha256) for a in added) if e is not None]

    def remove_pending(self, path: str, file_sha256: str) -> bool:
        """Drop an entry that is no longer flagged (e.g. after a threshold change), but only
        while nobody has reviewed it nor recorded a finding on it. Returns True when a row
        was removed."""
        with self._store.transaction() as db:
            cur = db.execute(
                f"DELETE FROM flags WHERE path=? AND file_sha256=? AND {_DROPPABLE}",
                (path, file_sha256))
        return cur.rowcount > 0

    # -- reader findings (desktop.findings, issue 25) --------------------------------------
    def record_finding(self, film: FlagEntry, flagged: bool, finding: str, note: str = "",
                       reviewer: str | None = None) -> tuple[reader_findings.Finding, FlagEntry | None]:
        """Record a reader's ``finding`` on ``film`` (its model result as a FlagEntry; it need
        not be on the worklist), ``flagged``: whether the model flagged it. In ONE
        transaction: the finding (replacing an earlier one), its ``finding:<value>`` audit
        event (reviewer, note, the earlier finding), and, for a film the model did not flag
        found "pneumonia" or "not assessable", a worklist entry of origin ``reader``.
        Returns the stored finding and the film's worklist entry (None when it has none)."""
        if finding not in reader_findings.FINDINGS:
            raise ValueError(f"finding must be one of {reader_findings.FINDINGS}; received {finding!r}")
        who = self._user if reviewer is None else reviewer
        entry_params = None
        if not flagged and finding in reader_findings.ON_WORKLIST:
            entry_params = self._checked(replace(film, origin=reader_findings.ORIGIN_READER,
                                                 review_state="pending", note=""))
        with self._store.transaction() as db:
            before = db.execute("SELECT finding, revision FROM findings WHERE path=? AND "
                                "file_sha256=?", film.key).fetchone()
            revision = 1 + (before[1] if before else 0)
            values = reader_findings.Finding(
                film.path, film.file_sha256, finding, note, who, utc_now(), film.status,
                film.probability, film.prediction, film.threshold, film.model_sha256,
                bool(flagged), revision, film.fs_path)
            cols = reader_findings.COLUMNS
            db.execute(f"INSERT OR REPLACE INTO findings ({', '.join(cols)}) VALUES "
                       f"({', '.join('?' * len(cols))})",
                       tuple(getattr(values, c) for c in cols))
            if entry_params is not None:  # keeps an entry already there as it is
                db.execute(f"INSERT INTO flags ({', '.join(_COLUMNS)}) VALUES "
                           f"({', '.join('?' * len(_COLUMNS))}) "
                           "ON CONFLICT (path, file_sha256) DO NOTHING", entry_params)
            insert_events(db, [AuditEvent(
                action=f"finding:{finding}", path=film.path, file_sha256=film.file_sha256,
                model_sha256=film.model_sha256, probability=film.probability,
                threshold=film.threshold,
                decision=film.prediction if film.status == "ok" else film.status,
                note=note, user=who,
                details={"from": before[0] if before else "", "model_flagged": bool(flagged),
                         "revision": revision})], self._user)
        log.info("finding %s recorded on %s by %s", finding, film.path, who)
        return self.finding(*film.key) or values, self.get(*film.key)

    def finding(self, path: str, file_sha256: str) -> reader_findings.Finding | None:
        """The finding recorded on a film, or None."""
        row = self._db.execute(f"SELECT {', '.join(reader_findings.COLUMNS)} FROM findings WHERE "
                               "path=? AND file_sha256=?", (path, file_sha256)).fetchone()
        return None if row is None else _finding(row)

    def findings(self, since: str = "", until: str = "") -> list[reader_findings.Finding]:
        """The findings recorded in ``[since, until)`` (ISO UTC times or dates; "" = open),
        oldest first."""
        return read_findings(self._db, since, until)

    def export_findings_csv(self, dest: str | os.PathLike[str]) -> int:
        """Every finding (oldest first) as UTF-8 CSV, atomically; returns rows."""
        return write_findings_csv(self.findings(), dest)

    # -- reads ---------------------------------------------------------------------------
    def get(self, path: str, file_sha256: str) -> FlagEntry | None:
        row = self._db.execute(
            f"SELECT {_SELECT} WHERE flags.path=? AND flags.file_sha256=?",
            (path, file_sha256),
        ).fetchone()
        return None if row is None else FlagEntry(*row)

    def entries(self, states: tuple[str, ...] = REVIEW_STATES) -> list[FlagEntry]:
        """All entries in the given review states, most likely first."""
        marks = ", ".join("?" * len(states))
        rows = self._db.execute(
            f"SELECT {_SELECT} WHERE review_state IN ({marks}) {_ORDER}",
            tuple(states),
        ).fetchall()
        return [FlagEntry(*r) for r in rows]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM flags").fetchone()[0])

    def data_version(self) -> int:
        """Changes whenever ANOTHER connection (window, process) commited to the file since
        this number was last read (SQLite ``PRAGMA data_version``); cheap to poll."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def integrity_ok(self) -> bool:
        """SQLite's own integrity check of the file."""
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def check_present(self) -> None:
        """Raise ReviewStoreError when the data file was deleted or replaced (see
        :meth:`desktop.sqlite_util.DurableDB.check_present`)."""
        self._store.check_present()

    # -- export --------------------------------------------------------------------------
    def export_csv(self, dest: str | os.PathLike[str]) -> int:
        """Write all entries in the worklist's reading order (:meth:`FlagEntry.reading_key`)
        as UTF-8 CSV with a header, atomically (nothing is left behind on failure); returns
        rows."""
        entries = sorted(self.entries(), key=FlagEntry.reading_key)
        n = write_csv_atomic(dest, EXPORT_COLUMNS, (
            [*(getattr(e, c) for c in _EXPORTED),
             *dicom_identifiers.cells(dicom_identifiers.from_text(e.identifiers))]
            for e in entries))
        log.info("exported %d review entries to %s", n, dest)
        return n

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- Reader: batches (issue 14, the reader's worklist) ----------------------------------------
# Entries are grouped by folder (the batch a reader opened). A finished folder (nothing
# pending) can be archived: the window hides it from the worklist; nothing is deleted, the
# archive is audited and can be undone.

_ARCHIVE_TABLE = """
CREATE TABLE IF NOT EXISTS archived_folders (
    folder       TEXT PRIMARY KEY,
    archived_at  TEXT NOT NULL,
    reviewer     TEXT NOT NULL DEFAULT ''
)"""


def entry_folder(entry: FlagEntry) -> str:
    """The folder (batch) an entry belongs to: its file's parent folder, as display text."""
    return os.path.dirname(entry.path)


def archive_folder(store: ReviewStore, folder: str, archived: bool = True) -> bool:
    """Archive (or, with ``archived=False``, restore) ``folder``'s entries, audited. Only a
    finished folder (no pending entry) can be archived; returns False otherwise."""
    if archived and any(e.review_state == "pending" for e in store.entries()
                        if entry_folder(e) == folder):
        return False
    with store._store.transaction() as db:
        if archived:
            db.execute("INSERT OR REPLACE INTO archived_folders (folder, archived_at, reviewer) "
                       "VALUES (?, ?, ?)", (folder, utc_now(), store._user))
        else:
            db.execute("DELETE FROM archived_folders WHERE folder=?", (folder,))
        insert_events(db, [AuditEvent(action="archive" if archived else "unarchive",
                                      path=folder, user=store._user)], store._user)
    return True


def archived_folders(store: ReviewStore) -> set[str]:
    """The archived folders."""
    return {r[0] for r in store._db.execute("SELECT folder FROM archived_folders")}


def read_findings(db: sqlite3.Connection, since: str = "", until: str = ""
                  ) -> list[reader_findings.Finding]:
    """The findings recorded in ``[since, until)`` of an open data file, oldest first (the
    report reads them through a read-only connection)."""
    rows = db.execute(
        f"SELECT {', '.join(reader_findings.COLUMNS)} FROM findings WHERE recorded_at >= ? AND "
        "(? = '' OR recorded_at < ?) ORDER BY recorded_at, path", (since, until, until)
    ).fetchall()
    return [_finding(r) for r in rows]


def write_findings_csv(found: Iterable[reader_findings.Finding],
                       dest: str | os.PathLike[str]) -> int:
    """Findings as UTF-8 CSV with a header, atomically; returns rows."""
    cols = [c for c in reader_findings.COLUMNS if c != "fs_path"]
    n = write_csv_atomic(dest, cols, ([getattr(f, c) for c in cols] for f in found))
    log.info("exported %d reader findings to %s", n, dest)
    return n


def _finding(row: tuple) -> reader_findings.Finding:
    f = reader_findings.Finding(*row)
    f.flagged = bool(f.flagged)
    return f
