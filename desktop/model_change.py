"""Announce a new model version after an upgrade (Qt-free): the window and ``classify`` compare
the model now installed with the one this data file last saw, and a change becomes a
``model:changed`` audit event and a line for the user.

The last model seen is kept in the data file's ``meta`` table (key ``model_seen``), so each
reader's own data file announces the change once, at its first use after the upgrade.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop.audit import AuditLog
    from pneumonia_core.metadata import ModelMetadata

log = logging.getLogger(__name__)

ACTION = "model:changed"
_KEY = "model_seen"


@dataclass(frozen=True)
class ModelSeen:
    name: str
    version: str
    sha256: str

    def text(self) -> str:
        return f"{self.name} {self.version} (sha256 {self.sha256[:12]})"


def _seen(db_path: Path) -> ModelSeen | None:
    try:
        with sqlite3.connect(db_path) as db:
            row = db.execute("SELECT value FROM meta WHERE key=?", (_KEY,)).fetchone()
    except sqlite3.Error:
        return None
    if row is None:
        return None
    try:
        return ModelSeen(**json.loads(row[0]))
    except (TypeError, ValueError):
        return None


def _remember(db_path: Path, now: ModelSeen) -> None:
    with sqlite3.connect(db_path, isolation_level=None) as db:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                   (_KEY, json.dumps(now.__dict__, sort_keys=True)))


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
