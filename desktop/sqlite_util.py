"""SQLite helpers shared by the review list and the audit trail (Qt-free).

Both live in ONE database file (see :mod:`desktop.paths`), so a review mark and its audit
event, or a chunk of flagged files and their classification events, commit in one
transaction. Durability: an autocommit connection, WAL journal, ``synchronous=FULL`` and one
``BEGIN IMMEDIATE ... COMMIT`` per change.

Storage faults are detected and reported with their real cause (:class:`StorageError`):

* the data file (or its folder) deleted or replaced while the app runs: every write first
  checks that the path still names the file that was opened (device + inode), because SQLite
  would otherwise keep writing to the deleted file and the data would be gone after a restart;
* a read-only file or folder: detected when opening, by a real write (not at the first mark);
* a full disk: SQLite rolls the transaction back itself; the ``ROLLBACK`` here is only issued
  while a transaction is still open, so "cannot rollback - no transaction is active" never
  hides "database or disk is full".
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)


def utc_now() -> str:
    """ISO 8601 UTC time with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class StorageError(RuntimeError):
    """The data file cannot be opened or written; the message names the real cause and is
    meant for the user."""


#: How :func:`cause_of` names a read-only file or folder (:func:`is_read_only` looks for it).
READ_ONLY = "is read-only"


def is_read_only(cause: str) -> bool:
    """Whether a cause from :func:`cause_of` (or a StorageError's text) is a read-only file or
    folder, not a full disk, a missing folder or another fault."""
    return f" {READ_ONLY} (" in cause


def cause_of(path: Path, exc: BaseException) -> str:
    """The user-facing cause of a failed open or write of the data file ``path``."""
    text = str(exc)
    folder = path.parent
    if not folder.exists():
        return f"the data folder {folder} was deleted or moved"
    if not path.exists() and not isinstance(exc, FileNotFoundError):
        return f"the data file {path} was deleted or moved"
    if path.exists() and not os.access(path, os.W_OK) and os.access(folder, os.W_OK):
        return f"the data file {path} {READ_ONLY} ({text})"
    if "readonly" in text or "read-only" in text or not os.access(folder, os.W_OK) or (
            path.exists() and not os.access(path, os.W_OK)):
        return f"the data folder {folder} {READ_ONLY} ({text})"
    if "full" in text or getattr(exc, "errno", None) == 28:
        return f"the disk holding {folder} is full ({text})"
    return text


_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"

#: The data file's format (SQLite ``user_version``), raised whenever a release changes the
#: tables incompatibly: a file stamped higher was written by a newer release, and an older
#: one refuses to open it instead of migrating it backwards (downgrade keeps the data intact).
DATA_FORMAT = 2  # 2: reader findings (issue 25: the findings table, flags.origin)


class NewerFormatError(sqlite3.DatabaseError):
    """The file was written by a newer release of the app."""


def refuse_newer_format(db: sqlite3.Connection, path: Path) -> None:
    """Raise :class:`NewerFormatError` when ``path``'s format is newer than this release's."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > DATA_FORMAT:
        raise NewerFormatError(
            f"it was written by a newer release of pneumonia-xray (data format {found}; this "
            f"release reads up to {DATA_FORMAT}). It was not opened and nothing in it changed: "
            "reinstall the newer release to use it")


class DurableDB:
    """One autocommit SQLite connection with WAL, ``synchronous=FULL``, a busy timeout, and
    :meth:`transaction` that checks the file is still there before every write.

    ``schema(db)`` runs inside the first transaction (create or migrate tables). The open ends
    with a real write (``meta.last_opened``) so a read-only file or folder fails here, with
    :class:`StorageError` naming the cause, instead of at the user's first mark.
    ``error`` is the StorageError subclass raised, ``what`` names the store in messages."""

    def __init__(self, path: str | os.PathLike[str], schema: Callable[[sqlite3.Connection], None],
                 timeout: float = 30.0, error: type[StorageError] = StorageError,
                 what: str = "the data file") -> None:
        self.path = Path(path)
        self.error = error
        self.what = what
        #: Called after every successful :meth:`transaction` (the audit anchor, issue 23).
        self.after_commit: Callable[[], None] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise error(f"Cannot open {what} {self.path}: {cause_of(self.path, exc)}") from None
        try:
            self.db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self._identity = self._stat()
            with self._raw_transaction():
                refuse_newer_format(self.db, self.path)
                self.db.execute(_META)
                schema(self.db)
                self.db.execute(f"PRAGMA user_version={DATA_FORMAT}")
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('last_opened', ?)",
                                (utc_now(),))
        except (OSError, sqlite3.Error) as exc:
            close_quietly(self.db, self.path)
            raise error(f"Cannot open {what} {self.path}: {cause_of(self.path, exc)}") from None

    def _stat(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return (st.st_dev, st.st_ino)

    def check_present(self) -> None:
        """Raise when the path no longer names the file this connection writes to."""
        try:
            same = self._stat() == self._identity
        except OSError as exc:
            raise self.error(f"Cannot save to {self.what} {self.path}: "
                             f"{cause_of(self.path, exc)}; nothing more can be saved there "
                             "until the app is restarted") from None
        if not same:
            raise self.error(f"Cannot save to {self.what} {self.path}: the file was replaced "
                             "by another one while the app was running; restart the app")

    @contextmanager
    def _raw_transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            rollback_quietly(self.db)
            raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` after :meth:`check_present`; sqlite3 errors
        become ``self.error`` with the real cause (full disk, read-only, deleted)."""
        self.check_present()
        try:
            with self._raw_transaction():
                yield self.db
        except sqlite3.Error as exc:
            raise self.error(f"Cannot save to {self.what} {self.path}: "
                             f"{cause_of(self.path, exc)}") from None
        if self.after_commit is not None:
            self.after_commit()

    def close(self) -> None:
        close_quietly(self.db, self.path)


def rollback_quietly(db: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any (SQLite ends some failed transactions itself,
    e.g. on a full disk); a failing rollback is logged, never raised over the first error."""
    if not db.in_transaction:
        return
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error:
        log.exception("rollback failed")


def close_quietly(db: sqlite3.Connection, path: Path) -> None:
    """Close ``db``; a failure is logged, not raised."""
    try:
        db.close()
    except sqlite3.Error:
        log.exception("closing %s", path)


def columns_of(db: sqlite3.Connection, table: str) -> list[str]:
    """The column names of ``table`` ([] when it does not exist)."""
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


@contextmanager
def read_only_connection(src: Path) -> Iterator[sqlite3.Connection]:
    """A connection that only reads ``src``, also where SQLite cannot open it read-only in
    place: a WAL database in a read-only folder needs its ``-shm`` file, which SQLite cannot
    create there ("attempt to write a readonly database", "unable to open database file").
    Then the file and its ``-wal`` are copied, byte for byte, to a private temporary folder
    and read there (the WAL's committed transactions are replayed; the original is never
    written). Raises sqlite3.Error when neither works."""
    import shutil
    import tempfile

    src = Path(src)
    try:
        con = sqlite3.connect(src.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.Error:
            con.close()
            raise
    except sqlite3.OperationalError as exc:
        log.info("reading a private copy of %s (%s)", src, exc)
        with tempfile.TemporaryDirectory(prefix="pneumonia-xray-ro-") as tmp:
            copy = Path(tmp) / src.name
            try:
                shutil.copyfile(src, copy)
                wal = src.with_name(src.name + "-wal")
                if wal.exists():
                    shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            except OSError as err:
                raise sqlite3.OperationalError(f"cannot read {src}: {err}") from None
            con = sqlite3.connect(copy)
            try:
                yield con
            finally:
                con.close()
        return
    try:
        yield con
    finally:
        con.close()


def copy_database(src: Path, dest: Path) -> bool:
    """Copy a readable database (e.g. on a read-only disk, see :func:`read_only_connection`)
    to ``dest`` with SQLite's backup API; returns False when there is nothing readable to
    copy."""
    if not src.exists():
        return False
    try:
        with read_only_connection(src) as source:
            target = sqlite3.connect(dest)
            try:
                source.backup(target)
            finally:
                target.close()
        return True
    except sqlite3.Error as exc:
        log.warning("cannot copy %s: %s", src, exc)
        return False
