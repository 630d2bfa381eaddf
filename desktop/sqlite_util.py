"""SQLite and CSV helpers shared by the review list and the audit trail (Qt-free).

Both stores use the same durability settings: an autocommit connection, WAL journal,
``synchronous=FULL`` and one ``BEGIN IMMEDIATE ... COMMIT`` transaction per change; both
export CSV through a ``.part`` file renamed into place, with every cell made formula-safe.
"""

from __future__ import annotations

import csv
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from desktop import csv_safe
from pneumonia_core.provenance import atomic_writer

log = logging.getLogger(__name__)


def open_durable(path: Path, schema: str, timeout: float = 30.0) -> sqlite3.Connection:
    """Open (creating folder and file if needed) an autocommit connection with WAL journal,
    ``synchronous=FULL`` and a busy timeout, and run ``schema``.

    Raises OSError or sqlite3.Error; callers turn them into their own user-facing error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    db.executescript(schema)
    return db


@contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` and re-raise on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def close_quietly(db: sqlite3.Connection, path: Path) -> None:
    """Close ``db``; a failure is logged, not raised."""
    try:
        db.close()
    except sqlite3.Error:
        log.exception("closing %s", path)


def write_csv_atomic(dest: str | os.PathLike[str], header: Sequence[str],
                     rows: Iterable[Iterable[object]]) -> int:
    """Write ``header`` and ``rows`` (cells through :func:`csv_safe.cell`) as UTF-8 CSV to
    ``dest`` atomically (:func:`pneumonia_core.provenance.atomic_writer`: temporary file,
    fsync, rename). Returns the number of rows written."""
    n = 0
    with atomic_writer(dest, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_safe.cell(v) for v in row])
            n += 1
    return n
