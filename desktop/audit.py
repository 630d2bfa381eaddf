"""The append-only audit trail (Qt-free SQLite).

Every classification and every review action is one row: time (UTC), file path and SHA-256,
model SHA-256 (and, for classifications, the model folder's digest and whether it is the
folder pinned in this build, see :mod:`pneumonia_core.integrity`), probability, threshold, decision, user action, note. Triggers make SQLite
refuse ``UPDATE`` and ``DELETE`` on the table, so entries are never rewritten through SQL;
one transaction per append, WAL journal, ``synchronous=FULL``.

API::

    log = AuditLog(path)
    log.append(AuditEvent(action="classify", path=..., file_sha256=..., model_sha256=...,
                          probability=0.93, threshold=0.5, decision="PNEUMONIA"))
    log.append_many([...])        # several events, one transaction
    log.recent(limit=1000)        # newest first
    log.export_csv(out_path)      # oldest first
    log.close()

Actions used by the app and the batch command: ``classify`` (decision = predicted label,
``error`` or ``out_of_scope``), ``review:reviewed``, ``review:dismissed``, ``review:pending``,
``threshold`` (note: old -> new), ``export``. Each thread or process uses its own AuditLog.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass, fields
from pathlib import Path

from desktop.review_store import utc_now
from desktop.sqlite_util import (
    close_quietly,
    immediate_transaction,
    open_durable,
    write_csv_atomic,
)
from pneumonia_core.pipeline import display_path

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    time          TEXT NOT NULL,
    action        TEXT NOT NULL,
    path          TEXT NOT NULL DEFAULT '',
    file_sha256   TEXT NOT NULL DEFAULT '',
    model_sha256  TEXT NOT NULL DEFAULT '',
    probability   REAL,
    threshold     REAL,
    decision      TEXT NOT NULL DEFAULT '',
    note          TEXT NOT NULL DEFAULT '',
    user          TEXT NOT NULL DEFAULT '',
    model_folder_sha256 TEXT NOT NULL DEFAULT '',
    model_verified INTEGER
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused'); END;
"""


@dataclass
class AuditEvent:
    """One audit row; ``id`` and ``time`` are filled in by :meth:`AuditLog.append`."""

    action: str
    path: str = ""
    file_sha256: str = ""
    model_sha256: str = ""
    probability: float | None = None
    threshold: float | None = None
    decision: str = ""
    note: str = ""
    user: str = ""
    #: digest of the whole model folder (pneumonia_core.integrity) and whether it is the
    #: folder pinned in this build (1), another one (0), or not recorded (None: no model,
    #: or a row written before this column existed)
    model_folder_sha256: str = ""
    model_verified: int | None = None
    time: str = ""
    id: int | None = None


_FIELDS = [f.name for f in fields(AuditEvent) if f.name != "id"]
#: Column order of the table and of the CSV export.
COLUMNS = ["id", "time", "action", "path", "file_sha256", "model_sha256", "probability",
           "threshold", "decision", "note", "user", "model_folder_sha256", "model_verified"]
#: Columns added after the first release: (name, SQL definition), added to older files.
_ADDED_COLUMNS = [("model_folder_sha256", "TEXT NOT NULL DEFAULT ''"),
                  ("model_verified", "INTEGER")]


class AuditError(RuntimeError):
    """The audit log cannot be opened or written; the message is meant for the user."""


def current_user() -> str:
    """The operating-system login name, or '' when it cannot be found."""
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""


class AuditLog:
    """Append-only audit log in SQLite. Not shared between threads."""

    def __init__(self, path: str | os.PathLike[str], timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._user = current_user()
        try:
            self._db = open_durable(self.path, _SCHEMA, timeout)
            self._add_missing_columns()
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(f"Cannot open the audit log {self.path}: {exc}") from None

    def _add_missing_columns(self) -> None:
        """An audit file from an older version gains the newer columns (empty in old rows)."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(audit)")}
        for name, definition in _ADDED_COLUMNS:
            if name not in have:
                with immediate_transaction(self._db):
                    have = {row[1] for row in self._db.execute("PRAGMA table_info(audit)")}
                    if name not in have:
                        self._db.execute(f"ALTER TABLE audit ADD COLUMN {name} {definition}")

    def append(self, event: AuditEvent) -> AuditEvent:
        """Append one event in its own transaction; returns it with ``id`` and ``time``."""
        return self.append_many([event])[0]

    def append_many(self, events: list[AuditEvent]) -> list[AuditEvent]:
        """Append several events in ONE transaction (all or none); returns them with ids."""
        out: list[AuditEvent] = []
        try:
            with immediate_transaction(self._db):
                for event in events:
                    values = {f: getattr(event, f) for f in _FIELDS}
                    values["time"] = values["time"] or utc_now()
                    values["user"] = values["user"] or self._user
                    cur = self._db.execute(
                        f"INSERT INTO audit ({', '.join(values)}) "
                        f"VALUES ({', '.join('?' * len(values))})",
                        tuple(values.values()),
                    )
                    out.append(AuditEvent(**values, id=cur.lastrowid))
        except sqlite3.Error as exc:
            raise AuditError(f"Cannot write the audit log {self.path}: {exc}") from None
        return out

    def _select(self, sql: str, params: tuple) -> list[AuditEvent]:
        rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit {sql}", params).fetchall()
        return [AuditEvent(**dict(zip(COLUMNS, r, strict=True))) for r in rows]

    def recent(self, limit: int = 1000) -> list[AuditEvent]:
        """The newest ``limit`` events, newest first."""
        return self._select("ORDER BY id DESC LIMIT ?", (int(limit),))

    def all(self) -> list[AuditEvent]:
        """Every event, oldest first."""
        return self._select("ORDER BY id", ())

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def export_csv(self, dest: str | os.PathLike[str]) -> int:
        """Write every event, oldest first, as UTF-8 CSV with a header; returns rows."""
        rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit ORDER BY id")
        n = write_csv_atomic(dest, COLUMNS, rows)
        log.info("exported %d audit events to %s", n, dest)
        return n

    def close(self) -> None:
        close_quietly(self._db, self.path)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def classification_event(result: object, model_sha256: str, action: str = "classify",
                         model_folder_sha256: str = "",
                         model_verified: bool | None = None) -> AuditEvent:
    """The audit event of a :class:`pneumonia_core.pipeline.Result` (decision: the predicted
    label when ok, else the status), with the model file's and model folder's digests and
    whether the folder is the pinned one."""
    status = getattr(result, "status", "error")
    decision = getattr(result, "prediction", None) if status == "ok" else status
    return AuditEvent(
        action=action,
        path=display_path(getattr(result, "path", "")),
        file_sha256=getattr(result, "file_sha256", "") or "",
        model_sha256=model_sha256,
        probability=getattr(result, "probability", None),
        threshold=getattr(result, "threshold", None),
        decision=decision or "",
        note=getattr(result, "message", "") or "",
        model_folder_sha256=model_folder_sha256,
        model_verified=None if model_verified is None else int(model_verified),
    )
