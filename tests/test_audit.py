"""The append-only audit log, without any widget."""

from __future__ import annotations

import csv
import io
import sqlite3

import pytest

from desktop.audit import AuditEvent, AuditLog, classification_event
from pneumonia_core.pipeline import Result


def _classified(log: AuditLog, name: str, p: float) -> AuditEvent:
    res = Result(path=f"/x/{name}", status="ok", probability=p, prediction="PNEUMONIA",
                 threshold=0.5, file_sha256=name * 64)
    return log.append(classification_event(res, "m" * 64))


def test_append_and_read_back(tmp_path):
    with AuditLog(tmp_path / "a.db") as log:
        first = _classified(log, "a", 0.91)
        log.append(AuditEvent(action="review:reviewed", path="/x/a", file_sha256="a" * 64,
                              note="seen"))
        err = log.append(classification_event(
            Result(path="/x/b", status="error", message="Empty file (0 bytes)"), "m" * 64))
        assert first.id == 1 and first.time and first.decision == "PNEUMONIA"
        assert err.decision == "error" and err.note == "Empty file (0 bytes)"
        recent = log.recent()
        assert [e.action for e in recent] == ["classify", "review:reviewed", "classify"]
        assert recent[2].probability == pytest.approx(0.91)
        assert recent[2].threshold == pytest.approx(0.5)
        assert recent[2].model_sha256 == "m" * 64
        assert log.count() == 3


@pytest.mark.parametrize("sql", [
    "UPDATE audit SET probability = 0.01 WHERE id = 1",
    "UPDATE audit SET note = 'rewritten'",
    "DELETE FROM audit WHERE id = 1",
    "DELETE FROM audit",
])
def test_update_and_delete_are_refused(tmp_path, sql):
    path = tmp_path / "a.db"
    with AuditLog(path) as log:
        _classified(log, "a", 0.91)
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute(sql)
    db.commit()
    row = db.execute("SELECT probability, note FROM audit WHERE id = 1").fetchone()
    assert row == (pytest.approx(0.91), "")
    assert db.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 1


def test_survives_reopen_and_keeps_appending(tmp_path):
    path = tmp_path / "a.db"
    with AuditLog(path) as log:
        _classified(log, "a", 0.6)
    with AuditLog(path) as log:
        second = _classified(log, "b", 0.7)
        assert second.id == 2
        assert [e.path for e in log.all()] == ["/x/a", "/x/b"]


def test_csv_export(tmp_path):
    out = tmp_path / "audit.csv"
    with AuditLog(tmp_path / "a.db") as log:
        _classified(log, "a", 0.6)
        log.append(AuditEvent(action="review:dismissed", path="/x/a", note="@SUM(1)"))
        assert log.export_csv(out) == 2
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert [r["action"] for r in rows] == ["classify", "review:dismissed"]
    assert float(rows[0]["probability"]) == pytest.approx(0.6)
    assert rows[0]["file_sha256"] == "a" * 64
    assert rows[1]["note"] == "'@SUM(1)"
