"""The append-only, tamper-evident audit trail (Qt-free SQLite).

Every classification, every review action and every ``classify`` run is one row: time (UTC),
action, file path and SHA-256, model SHA-256, probability, threshold, decision, note, user
(the OS account), ``details`` (a JSON object; e.g. ``model_folder_sha256`` and
``model_verified`` of the model integrity check, ``argv`` and counts of a ``classify`` run),
and a hash chain: ``hash = SHA-256(prev_hash + canonical JSON of the row)``, ``prev_hash``
being the previous row's hash (:data:`GENESIS` for the first). Editing, deleting, inserting
or reordering a row breaks the chain at that row; deleting the newest rows shows as a gap
between the last id SQLite issued and the last row. Triggers make SQLite refuse ``UPDATE``
and ``DELETE``; they are created with the table only and are never silently recreated:
:func:`verify` reports missing ones. Checked at start (window banner), by
``pneumonia-xray verify`` and by Tools > Verify audit trail.

The audit table lives in the same database file as the review list
(:mod:`desktop.review_store`), so a review mark and its audit event commit together;
:func:`migrate_legacy` imports a separate ``audit.sqlite3`` of earlier versions.

API::

    log = AuditLog(path)
    log.append(AuditEvent(action="classify", path=..., file_sha256=..., model_sha256=...,
                          probability=0.93, threshold=0.5, decision="PNEUMONIA"))
    log.append_many([...])        # several events, one transaction
    log.recent(limit=1000)        # newest first
    log.export_csv(out_path)      # oldest first
    log.verify()                  # AuditCheck(ok, rows, problems)
    log.close()

Actions: ``classify`` (decision = predicted label, ``error`` or ``out_of_scope``),
``review:reviewed``, ``review:dismissed``, ``review:pending``, ``threshold`` (note: old ->
new), ``export``, ``run:classify`` (one headless batch), ``migrate``. Each thread or process
uses its own AuditLog.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from desktop.csv_safe import write_csv_atomic
from desktop.sqlite_util import DurableDB, StorageError, columns_of, utc_now
from pneumonia_core.files import display_path

log = logging.getLogger(__name__)

#: ``prev_hash`` of the first row.
GENESIS = "0" * 64

_TABLE = """
CREATE TABLE audit (
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
    details       TEXT NOT NULL DEFAULT '{}',
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
)"""

TRIGGERS = {
    "audit_no_update": "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN "
                       "SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END",
    "audit_no_delete": "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN "
                       "SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused'); END",
}

#: Columns of a version-1 audit table (no hash chain), as imported by :func:`migrate_legacy`.
_LEGACY_COLUMNS = ["time", "action", "path", "file_sha256", "model_sha256", "probability",
                   "threshold", "decision", "note", "user"]


@dataclass
class AuditEvent:
    """One audit row; ``id``, ``time``, ``user`` (when empty) and the hashes are filled in
    when it is appended. ``details``: extra facts as a JSON-serialisable dict."""

    action: str
    path: str = ""
    file_sha256: str = ""
    model_sha256: str = ""
    probability: float | None = None
    threshold: float | None = None
    decision: str = ""
    note: str = ""
    user: str = ""
    time: str = ""
    details: dict = field(default_factory=dict)
    id: int | None = None
    prev_hash: str = ""
    hash: str = ""


#: Fields covered by the hash, in this order (after prev_hash).
_HASHED = ["time", "action", "path", "file_sha256", "model_sha256", "probability", "threshold",
           "decision", "note", "user", "details"]
#: Column order of the table and of the CSV export.
COLUMNS = ["id", *_HASHED, "prev_hash", "hash"]


class AuditError(StorageError):
    """The audit log cannot be opened or written; the message is meant for the user."""


def current_user() -> str:
    """The operating-system login name, or '' when it cannot be found."""
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""


def _canonical_details(details: object) -> str:
    if isinstance(details, str):
        return details
    return json.dumps(details or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def row_hash(prev_hash: str, values: dict) -> str:
    """The chained hash of one row (``values``: the :data:`_HASHED` fields as stored)."""
    body = json.dumps([prev_hash] + [values[k] for k in _HASHED], ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def ensure_schema(db: sqlite3.Connection) -> None:
    """Create the audit table and its triggers when the table does not exist (inside the
    caller's transaction). Existing triggers are never recreated: a dropped trigger stays
    missing and :func:`verify` reports it. A version-1 table (no hash chain) in the same file
    is renamed and its rows are chained into the new table."""
    cols = columns_of(db, "audit")
    if cols and "hash" not in cols:
        db.execute("ALTER TABLE audit RENAME TO audit_v1")
        for name in TRIGGERS:
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
        cols = []
        _create(db)
        n = _copy_legacy(db, "audit_v1")
        db.execute("DROP TABLE audit_v1")
        log.info("audit log upgraded to the hash chain: %d events", n)
        return
    if not cols:
        _create(db)


def _create(db: sqlite3.Connection) -> None:
    db.execute(_TABLE)
    for sql in TRIGGERS.values():
        db.execute(sql)


def _copy_legacy(db: sqlite3.Connection, table: str) -> int:
    rows = db.execute(f"SELECT {', '.join(_LEGACY_COLUMNS)} FROM {table} ORDER BY id").fetchall()
    events = [AuditEvent(**dict(zip(_LEGACY_COLUMNS, r, strict=True))) for r in rows]
    insert_events(db, events, "")
    return len(events)


def insert_events(db: sqlite3.Connection, events: Iterable[AuditEvent], user: str
                  ) -> list[AuditEvent]:
    """Append ``events`` to the chain inside the caller's open transaction (``BEGIN
    IMMEDIATE`` serialises writers, so the previous hash is the newest row's)."""
    row = db.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS
    out: list[AuditEvent] = []
    for event in events:
        values = {
            "time": event.time or utc_now(),
            "action": event.action,
            "path": display_path(event.path),
            "file_sha256": event.file_sha256 or "",
            "model_sha256": event.model_sha256 or "",
            "probability": None if event.probability is None else float(event.probability),
            "threshold": None if event.threshold is None else float(event.threshold),
            "decision": event.decision or "",
            "note": event.note or "",
            "user": event.user or user,
            "details": _canonical_details(event.details),
        }
        digest = row_hash(prev, values)
        cur = db.execute(
            f"INSERT INTO audit ({', '.join(values)}, prev_hash, hash) "
            f"VALUES ({', '.join('?' * (len(values) + 2))})",
            (*values.values(), prev, digest))
        out.append(_event(dict(values, id=cur.lastrowid, prev_hash=prev, hash=digest)))
        prev = digest
    return out


def _event(values: dict) -> AuditEvent:
    v = dict(values)
    try:
        v["details"] = json.loads(v.get("details") or "{}")
    except ValueError:
        v["details"] = {"unparsed": v.get("details")}
    return AuditEvent(**v)


@dataclass
class AuditCheck:
    """The result of :func:`verify`; ``problems`` name the rows (first few of each kind)."""

    rows: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"Audit trail intact: {self.rows} events, hash chain and triggers verified."
        return (f"AUDIT TRAIL TAMPERED OR DAMAGED ({self.rows} events): "
                + "; ".join(self.problems))


MAX_REPORTED = 5


def verify(db: sqlite3.Connection) -> AuditCheck:
    """Check the triggers, the hash chain of every row and the tail of the table, in one read
    transaction (a consistent snapshot while other windows keep appending)."""
    if db.in_transaction:
        return _verify(db)
    db.execute("BEGIN")
    try:
        return _verify(db)
    finally:
        db.execute("COMMIT")


def _verify(db: sqlite3.Connection) -> AuditCheck:
    problems: list[str] = []
    present = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit'")}
    for name in TRIGGERS:
        if name not in present:
            problems.append(f"trigger {name} is missing (dropped outside the app; UPDATE/DELETE "
                            "are no longer refused)")
    problems += _trigger_text_problems(db)
    if "hash" not in columns_of(db, "audit"):
        return AuditCheck(0, problems + ["the audit table has no hash chain"])
    prev = GENESIS
    n = 0
    edited: list[int] = []
    broken: list[int] = []
    last_id = 0
    gaps: list[str] = []
    cur = db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit ORDER BY id")
    for r in cur:
        row = dict(zip(COLUMNS, r, strict=True))
        n += 1
        if row["id"] != last_id + 1 and last_id:
            gaps.append(f"{last_id + 1}..{row['id'] - 1}")
        last_id = row["id"]
        if row["prev_hash"] != prev:
            broken.append(row["id"])
        if row_hash(row["prev_hash"], row) != row["hash"]:
            edited.append(row["id"])
        prev = row["hash"]
    if edited:
        problems.append(f"{len(edited)} row(s) do not match their hash (edited): id "
                        + ", ".join(map(str, edited[:MAX_REPORTED])))
    if broken:
        problems.append(f"chain broken before {len(broken)} row(s) (a row was deleted, inserted "
                        "or reordered): id " + ", ".join(map(str, broken[:MAX_REPORTED])))
    if gaps:  # SQLite never reuses nor skips an AUTOINCREMENT id within one table
        problems.append(f"{len(gaps)} gap(s) in the event ids (rows deleted, the chain "
                        "rewritten after them): ids " + ", ".join(gaps[:MAX_REPORTED])
                        + " missing")
    seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name='audit'").fetchone()
    if seq is not None and int(seq[0]) > last_id:
        problems.append(f"the newest rows were deleted: ids {last_id + 1}..{int(seq[0])} "
                        "are missing")
    return AuditCheck(n, problems)


def _normal_sql(sql: str | None) -> str:
    return " ".join((sql or "").split()).rstrip(";").lower()


def _trigger_text_problems(db: sqlite3.Connection) -> list[str]:
    """Triggers on the audit table whose SQL is not the app's own (a same-named no-op
    trigger refuses nothing), and triggers the app never creates."""
    out: list[str] = []
    for name, sql in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name='audit'"):
        if name not in TRIGGERS:
            out.append(f"unknown trigger {name} on the audit table (created outside the app)")
        elif _normal_sql(sql) != _normal_sql(TRIGGERS[name]):
            out.append(f"trigger {name} was REPLACED by one with other SQL (it may refuse "
                       "nothing)")
    return out


def full_check(db: sqlite3.Connection, db_path: str | os.PathLike[str],
               anchor: object = None) -> AuditCheck:
    """:func:`verify` plus the anchor kept outside the database (:mod:`desktop.audit_anchor`;
    ``anchor``: an exported one to check against, else the app's own for ``db_path``) and
    the review list replayed from the trail (:mod:`desktop.review_reconcile`), in one read
    transaction."""
    from desktop import audit_anchor, review_reconcile

    own = anchor is None
    anchor_error = ""
    if own:  # read BEFORE the snapshot: the anchor, written after each commit, never leads it
        try:
            anchor = audit_anchor.read(audit_anchor.anchor_path(db_path))
        except ValueError as exc:
            anchor_error = str(exc)
    outer = db.in_transaction
    if not outer:
        db.execute("BEGIN")
    try:
        check = _verify(db)
        if "hash" in columns_of(db, "audit"):
            check.problems += [anchor_error] if anchor_error else audit_anchor.problems(
                db, anchor, "the anchor kept outside the database" if own else "the given anchor")
        check.problems += review_reconcile.summary(review_reconcile.disagreements(db))
        return check
    finally:
        if not outer:
            db.execute("COMMIT")


def verify_file(path: str | os.PathLike[str], anchor: object = None) -> AuditCheck:
    """:func:`full_check` on a read-only connection of its own (any thread; read-only media
    too, see :func:`desktop.sqlite_util.read_only_connection`). Raises sqlite3.Error when the
    file cannot be read."""
    from desktop.sqlite_util import read_only_connection

    with read_only_connection(Path(path)) as con:
        return full_check(con, path, anchor)


class AuditLog:
    """Append-only audit log in SQLite. Not shared between threads."""

    def __init__(self, path: str | os.PathLike[str], timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._user = current_user()
        self._store = DurableDB(self.path, ensure_schema, timeout, AuditError, "the audit log")
        self._db = self._store.db
        from desktop import audit_anchor

        self._store.after_commit = lambda: audit_anchor.record(self._db, self.path)

    def append(self, event: AuditEvent) -> AuditEvent:
        """Append one event in its own transaction; returns it with ``id`` and ``time``."""
        return self.append_many([event])[0]

    def append_many(self, events: list[AuditEvent]) -> list[AuditEvent]:
        """Append several events in ONE transaction (all or none); returns them with ids."""
        with self._store.transaction() as db:
            return insert_events(db, events, self._user)

    def _select(self, sql: str, params: tuple) -> list[AuditEvent]:
        rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit {sql}", params).fetchall()
        return [_event(dict(zip(COLUMNS, r, strict=True))) for r in rows]

    def recent(self, limit: int = 1000) -> list[AuditEvent]:
        """The newest ``limit`` events, newest first."""
        return self._select("ORDER BY id DESC LIMIT ?", (int(limit),))

    def all(self) -> list[AuditEvent]:
        """Every event, oldest first."""
        return self._select("ORDER BY id", ())

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def verify(self) -> AuditCheck:
        """See :func:`full_check` (chain, triggers, anchor, review list)."""
        return full_check(self._db, self.path)

    def export_csv(self, dest: str | os.PathLike[str]) -> int:
        """Write every event, oldest first, as UTF-8 CSV with a header; returns rows."""
        rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM audit ORDER BY id")
        n = write_csv_atomic(dest, COLUMNS, rows)  # the one output rule applies
        log.info("exported %d audit events to %s", n, dest)
        return n

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: ``meta`` key recording that a legacy audit file was imported (so a failed rename afterwards
#: never imports it twice).
_IMPORTED_KEY = "legacy_audit_imported"


def migrate_legacy(db_path: str | os.PathLike[str], legacy: str | os.PathLike[str]) -> int:
    """Import the events of a separate audit file of an earlier version (``legacy``) into the
    audit table of ``db_path``, oldest first and chained, in one transaction (with a ``migrate``
    event and a marker in ``meta``), then rename the old file to ``<name>.migrated`` (kept,
    never deleted). Returns the events imported; 0 when there is nothing to import. Raises
    AuditError naming the cause; a failure leaves both files as they were."""
    legacy = Path(legacy)
    if not legacy.exists():
        return 0
    store = DurableDB(db_path, ensure_schema, error=AuditError, what="the audit log")
    n = 0
    try:
        done_before = store.db.execute("SELECT value FROM meta WHERE key=?",
                                       (_IMPORTED_KEY,)).fetchone()
        if done_before is None:
            n = _import_legacy(store, legacy)
    except sqlite3.Error as exc:
        raise AuditError(f"The audit log of an earlier version {legacy} could not be imported "
                         f"({exc}); it is kept as it is") from None
    finally:
        store.close()
    done = legacy.with_name(legacy.name + ".migrated")
    try:
        os.replace(legacy, done)
        for suffix in ("-wal", "-shm"):
            side = legacy.with_name(legacy.name + suffix)
            if side.exists():
                os.replace(side, done.with_name(done.name + suffix))
    except OSError as exc:
        log.warning("imported %s but cannot rename it: %s", legacy, exc)
    log.info("imported %d audit events from %s (kept as %s)", n, legacy, done)
    return n


def _import_legacy(store: DurableDB, legacy: Path) -> int:
    store.db.execute("ATTACH DATABASE ? AS legacy", (str(legacy),))
    try:
        cols = [r[1] for r in store.db.execute("PRAGMA legacy.table_info(audit)")]
        events: list[AuditEvent] = []
        if cols:
            select = ", ".join(c if c in cols else "''" for c in _LEGACY_COLUMNS)
            rows = store.db.execute(f"SELECT {select} FROM legacy.audit ORDER BY id").fetchall()
            events = [AuditEvent(**dict(zip(_LEGACY_COLUMNS, r, strict=True))) for r in rows]
        with store.transaction() as db:
            insert_events(db, events, "")
            insert_events(db, [AuditEvent(action="migrate", path=str(legacy),
                                          note=f"{len(events)} events imported from "
                                          f"{legacy.name}")], current_user())
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_IMPORTED_KEY, utc_now()))
    finally:
        store.db.execute("DETACH DATABASE legacy")
    return len(events)


def classification_event(result: object, model_sha256: str, action: str = "classify",
                         details: dict | None = None) -> AuditEvent:
    """The audit event of a :class:`pneumonia_core.pipeline.Result` (decision: the predicted
    label when ok, else the status). ``details``: extra facts for the ``details`` column,
    e.g. ``{"model_folder_sha256": ..., "model_verified": True}``."""
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
        details=dict(details or {}),
    )
