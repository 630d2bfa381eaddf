"""Announce what changed on the machine since this data file was last used (Qt-free).

- A new model version after an upgrade: the window and ``classify`` compare the installed
  (pinned, verified) model with the one this data file last saw; a change becomes a ``model:changed`` audit
  event and a line for the user.
- IT's machine settings (:mod:`desktop.machine_config`): the first use under a settings file
  and every change of the settings in force become a ``machine:settings`` audit event (what,
  and from which file).

What was last seen is kept in the data file's ``meta`` table (keys ``model_seen`` and
``machine_seen``), so each reader's own data file records a change once, at its first use after it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop.audit import AuditLog
    from desktop.machine_config import MachineSettings
    from pneumonia_core.metadata import ModelMetadata

log = logging.getLogger(__name__)

ACTION = "model:changed"
ACTION_MACHINE = "machine:settings"
_KEY = "model_seen"
_MACHINE_KEY = "machine_seen"


@dataclass(frozen=True)
class ModelSeen:
    """The model a data file last saw: name, version and SHA-256."""

    name: str
    version: str
    sha256: str

    def text(self) -> str:
        return f"{self.name} {self.version} (sha256 {self.sha256[:12]})"


def _load(db_path: Path, key: str) -> object:
    try:
        with closing(sqlite3.connect(db_path)) as db:  # closed now, not whenever GC runs
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])
    except (sqlite3.Error, ValueError):
        return None


def _seen(db_path: Path) -> ModelSeen | None:
    try:
        return ModelSeen(**_load(db_path, _KEY))  # type: ignore[arg-type]
    except TypeError:
        return None


def _store(db_path: Path, key: str, value: object) -> None:
    with closing(sqlite3.connect(db_path, isolation_level=None)) as db:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                   (key, json.dumps(value, sort_keys=True)))


def _remember(db_path: Path, now: ModelSeen) -> None:
    _store(db_path, _KEY, now.__dict__)


def note_model(audit: AuditLog, meta: ModelMetadata) -> str:
    """Compare the installed model with the one ``audit``'s data file last saw; on a change,
    append a ``model:changed`` event and return the announcement ("" when unchanged or on
    first use). Storage errors are logged, never raised: the announcement is a courtesy."""
    from desktop.audit import AuditEvent
    from desktop.sqlite_util import StorageError

    now = ModelSeen(meta.name, meta.version, meta.sha256)
    try:
        before = _seen(audit.path)
        if before == now:
            return ""
        text = ""
        if before is not None:
            text = (f"A new model is installed: {now.text()}, replacing {before.text()}. "
                    "See Help > About and the model card for what changed.")
            audit.append(AuditEvent(action=ACTION, model_sha256=now.sha256,
                                    threshold=meta.threshold_value, note=text,
                                    details={"before": before.__dict__, "now": now.__dict__}))
        _remember(audit.path, now)
    except (OSError, sqlite3.Error, StorageError) as exc:
        log.warning("could not record the installed model in %s: %s", audit.path, exc)
        return ""
    if text:
        log.info("%s", text)
    return text


def note_machine_settings(audit: AuditLog, settings: MachineSettings) -> bool:
    """Append a ``machine:settings`` event when the settings in force (or the file they came
    from) differ from what ``audit``'s data file last recorded; True when one was appended."""
    from desktop.audit import AuditEvent
    from desktop.sqlite_util import StorageError

    details = settings.audit_details()
    try:
        before = _load(audit.path, _MACHINE_KEY)
        if before is None and not settings.path:
            return False  # no settings file, ever: the defaults are not news
        if before == json.loads(json.dumps(details, sort_keys=True)):
            return False
        audit.append(AuditEvent(action=ACTION_MACHINE, path=settings.path,
                                note=settings.describe(), details=details))
        _store(audit.path, _MACHINE_KEY, details)
    except (OSError, sqlite3.Error, StorageError) as exc:
        log.warning("could not record the machine settings in %s: %s", audit.path, exc)
        return False
    return True
