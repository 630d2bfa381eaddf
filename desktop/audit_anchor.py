"""The audit trail's anchor: its head hash and event count, kept OUTSIDE the database (Qt-free).

The hash chain (:mod:`desktop.audit`) proves that no row was edited, inserted or reordered,
but not that the newest rows are all there: deleting the last rows, emptying the table,
deleting the file or restoring an older copy leaves a chain that verifies. The anchor closes
that gap. After every commit that added events, the app writes the chain's head (id, hash,
count) to a small JSON file in the user's config folder (:func:`anchor_path`), away from the
data folder; ``verify`` and the window's start-up check compare the database with it:

- the anchored row must still be in the database with the anchored hash, and the database
  must hold at least the anchored number of events: otherwise the trail was truncated,
  emptied, replaced by an older copy, or the file is missing;
- the anchor may lag behind the database (a crash or power cut between the commit and the
  anchor write, two windows racing): that is not a problem, as long as the anchored row is in
  the chain. It is written after the commit (renamed into place, never partial, not fsynced),
  so it never leads.

The anchor only moves forward along the same chain: when the database no longer contains the
anchored head, it is left as it is (the evidence stays) until IT records a new one
(``pneumonia-xray verify --reanchor``). ``verify --export-anchor FILE`` and the audit window
export it so IT can keep a copy elsewhere; ``verify --anchor FILE`` checks against that copy.

What it cannot do: a user who can write both the data file and the anchor file can rewrite
both consistently (see docs/reliability.md). A copy exported to a place the user cannot write
(IT's records) is what limits that.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

KIND = "pneumonia-xray audit anchor"
FOLDER = "audit_anchors"


@dataclass(frozen=True)
class Anchor:
    """The head of the chain: ``count`` events, the newest with ``last_id`` and ``head_hash``."""

    count: int
    last_id: int
    head_hash: str
    db: str = ""
    time: str = ""
    kind: str = KIND

    def text(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def describe(self) -> str:
        return (f"{self.count} events, head id {self.last_id}, hash {self.head_hash[:16]}"
                + (f", recorded {self.time[:19].replace('T', ' ')} UTC" if self.time else ""))


def _key(db_path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(str(Path(db_path).resolve()).encode("utf-8", "surrogateescape")
                          ).hexdigest()[:20]


def anchor_path(db_path: str | os.PathLike[str]) -> Path:
    """Where the anchor of the database ``db_path`` lives: the user's config folder, one file
    per database (not created here)."""
    from desktop import paths

    return paths.config_base() / FOLDER / f"{_key(db_path)}.json"


def head(db: sqlite3.Connection, db_path: str | os.PathLike[str] = "") -> Anchor:
    """The chain's head as the connection sees it now."""
    row = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    count = int(db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])
    from desktop.sqlite_util import utc_now

    if row is None:
        return Anchor(0, 0, "", str(db_path), utc_now())
    return Anchor(count, int(row[0]), str(row[1]), str(db_path), utc_now())


def read(path: str | os.PathLike[str]) -> Anchor | None:
    """An anchor file (None when there is none); ValueError when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"the audit anchor {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ValueError(f"{path} is not an audit anchor")
    try:
        return Anchor(int(data["count"]), int(data["last_id"]), str(data["head_hash"]),
                      str(data.get("db", "")), str(data.get("time", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the audit anchor {path} lacks a field: {exc}") from None


def extends(db: sqlite3.Connection, anchor: Anchor) -> bool:
    """True when the database still holds the anchored head (same id, same hash)."""
    if anchor.count == 0:
        return True
    row = db.execute("SELECT hash FROM audit WHERE id=?", (anchor.last_id,)).fetchone()
    return row is not None and row[0] == anchor.head_hash


def record(db: sqlite3.Connection, db_path: str | os.PathLike[str]) -> Anchor | None:
    """After a commit: move the anchor forward to the current head when the database extends
    the anchored chain; leave it when the database does not (the evidence stays). Never
    raises: a failure is logged (the data is saved; only the anchor lags)."""
    try:
        target = anchor_path(db_path)
        try:
            old = read(target)
        except ValueError as exc:  # e.g. cut short by a power failure: start again from here
            log.warning("%s; recording the current head", exc)
            old = None
        newest = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        if old is not None and newest is not None and (int(newest[0]), str(newest[1])) == (
                old.last_id, old.head_hash):
            return old  # no event added (e.g. a flag saved without one): nothing to write
        now = head(db, db_path)
        if old is not None:
            if not extends(db, old):
                if ("moved", str(db_path)) not in _warned:
                    _warned.add(("moved", str(db_path)))
                    log.error("audit anchor NOT moved: the database %s no longer holds the "
                              "anchored head (%s)", db_path, old.describe())
                return old
            if now.last_id <= old.last_id:  # another window already anchored further
                return old
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(target, now.text())
        return now
    except (OSError, ValueError, sqlite3.Error) as exc:
        if ("write", str(db_path)) not in _warned:  # once per database, not every commit
            _warned.add(("write", str(db_path)))
            log.warning("the audit anchor could not be written: %s", exc)
        return None


#: Databases whose anchor failure was already logged in this process.
_warned: set[tuple[str, str]] = set()


def _replace(target: Path, text: str) -> None:
    """Write a temporary file and rename it over ``target`` (never a partial anchor), without
    fsync: the database commit before it is already durable, so a power cut can only leave the
    anchor lagging, which is allowed; two fsyncs per commit would halve the write rate."""
    import threading

    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def problems(db: sqlite3.Connection, anchor: Anchor | None, where: str = "the anchor"
             ) -> list[str]:
    """Why the database does not reach ``anchor`` ([] when it does or there is none)."""
    if anchor is None:
        return []
    now = head(db)
    if now.count < anchor.count or not extends(db, anchor):
        return [f"the audit trail is SHORTER THAN OR DIFFERENT FROM its anchor ({where}: "
                f"{anchor.describe()}; the database holds {now.count} events, head id "
                f"{now.last_id}): newest events deleted, the table emptied, or an older copy "
                "of the file restored"]
    return []


def missing_database_problem(db_path: str | os.PathLike[str]) -> str | None:
    """When the data file is gone but its anchor says it held events: the message."""
    try:
        anchor = read(anchor_path(db_path))
    except ValueError as exc:
        return str(exc)
    if anchor is None or anchor.count == 0:
        return None
    return (f"the data file {db_path} is MISSING, but its audit anchor records "
            f"{anchor.describe()}")
