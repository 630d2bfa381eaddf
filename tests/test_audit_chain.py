"""The audit trail is tamper-evident: a hash chain over every row, triggers never silently
recreated, ``pneumonia-xray verify`` names the rows; separate audit files of earlier
versions are imported without losing events."""

from __future__ import annotations

import io
import sqlite3

import pytest

from desktop import batch
from desktop.audit import AuditEvent, AuditLog, migrate_legacy


def _log(path, n: int = 5) -> None:
    with AuditLog(path) as log:
        for i in range(n):
            log.append(AuditEvent(action="classify", path=f"/x/{i}", probability=i / 10,
                                  threshold=0.5, decision="NORMAL", details={"k": i}))


def _sql(path, *statements: str) -> None:
    db = sqlite3.connect(path)
    for s in statements:
        db.execute(s)
    db.commit()
    db.close()


def _verify_cli(path) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    code = batch.main(["verify", "--db", str(path)], stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def test_intact_log_verifies(tmp_path):
    db = tmp_path / "d.db"
    _log(db)
    with AuditLog(db) as log:
        check = log.verify()
        assert check.ok and check.rows == 5
        assert log.all()[0].details == {"k": 0}
    code, text = _verify_cli(db)
    assert code == 0 and "intact: 5 events" in text


def test_edited_row_is_named(tmp_path):
    db = tmp_path / "d.db"
    _log(db)
    _sql(db, "DROP TRIGGER audit_no_update",
         "UPDATE audit SET probability = 0.99 WHERE id = 3")
    with AuditLog(db) as log:  # opening does not recreate the trigger
        check = log.verify()
    assert not check.ok
    text = check.summary()
    assert "edited): id 3" in text and "audit_no_update is missing" in text
    code, out = _verify_cli(db)
    assert code == batch.EXIT_TAMPERED and "id 3" in out


def test_dropped_triggers_alone_are_reported_and_not_recreated(tmp_path):
    db = tmp_path / "d.db"
    _log(db)
    _sql(db, "DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete")
    with AuditLog(db) as log:
        log.append(AuditEvent(action="export"))
        problems = log.verify().problems
    assert len(problems) == 2 and all("missing" in p for p in problems)
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM sqlite_master WHERE type='trigger'").fetchone()[0] == 0


@pytest.mark.parametrize("row, expect", [(2, "chain broken before 1 row(s)"),
                                         (5, "ids 5..5 are missing")])
def test_deleted_rows_are_detected(tmp_path, row, expect):
    db = tmp_path / "d.db"
    _log(db)
    _sql(db, "DROP TRIGGER audit_no_delete", f"DELETE FROM audit WHERE id = {row}")
    with AuditLog(db) as log:
        summary = log.verify().summary()
    assert expect in summary
    if row == 2:
        assert "id 3" in summary


def test_rewritten_row_with_recomputed_own_hash_still_breaks_the_chain(tmp_path):
    from desktop.audit import COLUMNS, row_hash

    db = tmp_path / "d.db"
    _log(db)
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER audit_no_update")
    row = dict(zip(COLUMNS, con.execute(f"SELECT {', '.join(COLUMNS)} FROM audit WHERE id=2")
                   .fetchone(), strict=True))
    row["decision"] = "PNEUMONIA"
    con.execute("UPDATE audit SET decision=?, hash=? WHERE id=2",
                ("PNEUMONIA", row_hash(row["prev_hash"], row)))
    con.commit()
    con.close()
    with AuditLog(db) as log:
        assert "chain broken before 1 row(s)" in log.verify().summary()  # row 3 no longer links


def test_legacy_separate_audit_file_is_imported_and_kept(tmp_path):
    legacy = tmp_path / "audit.sqlite3"
    con = sqlite3.connect(legacy)
    con.executescript("""
        CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
            action TEXT NOT NULL, path TEXT NOT NULL DEFAULT '', file_sha256 TEXT NOT NULL
            DEFAULT '', model_sha256 TEXT NOT NULL DEFAULT '', probability REAL, threshold REAL,
            decision TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '',
            user TEXT NOT NULL DEFAULT '');
        INSERT INTO audit (time, action, path, probability, user)
            VALUES ('2026-01-01T00:00:00.000+00:00', 'classify', '/old/a', 0.7, 'dr_old');
        INSERT INTO audit (time, action, path, note, user)
            VALUES ('2026-01-02T00:00:00.000+00:00', 'review:reviewed', '/old/a', 'ok', 'dr_old');
    """)
    con.commit()
    con.close()
    db = tmp_path / "review.sqlite3"
    _log(db, 1)
    assert migrate_legacy(db, legacy) == 2
    assert not legacy.exists() and (tmp_path / "audit.sqlite3.migrated").exists()
    assert migrate_legacy(db, legacy) == 0  # once only
    with AuditLog(db) as log:
        events = log.all()
        assert [e.action for e in events] == ["classify", "classify", "review:reviewed", "migrate"]
        assert (events[1].time, events[1].user, events[1].probability) == (
            "2026-01-01T00:00:00.000+00:00", "dr_old", 0.7)
        assert log.verify().ok


def test_verify_while_another_window_appends_sees_one_consistent_snapshot(tmp_path,
                                                                            monkeypatch):
    """Found by looking at the app: a mark committed by another window between reading the
    rows and reading the last issued id was reported as 'newest rows deleted'."""
    from desktop import audit as audit_mod

    db = tmp_path / "d.db"
    _log(db, 3)
    other = AuditLog(db)
    real = audit_mod.row_hash
    calls = []

    def hash_and_append_once(prev, values):
        if not calls:
            calls.append(1)
            other.append(AuditEvent(action="review:reviewed", path="/x/0"))  # commits now
        return real(prev, values)

    monkeypatch.setattr(audit_mod, "row_hash", hash_and_append_once)
    check = audit_mod.verify_file(db)
    other.close()
    assert calls and check.ok, check.summary()
    assert check.rows == 3  # the snapshot from before the append


def test_legacy_import_is_never_repeated_when_the_rename_fails(tmp_path, monkeypatch):
    legacy = tmp_path / "audit.sqlite3"
    with AuditLog(legacy) as old:  # any audit table; its rows are what counts
        old.append(AuditEvent(action="classify", path="/old/a"))
    db = tmp_path / "review.sqlite3"
    import desktop.audit as audit_mod

    def no_rename(*_a, **_k):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(audit_mod.os, "replace", no_rename)
    assert migrate_legacy(db, legacy) == 1
    assert legacy.exists()
    monkeypatch.undo()
    assert migrate_legacy(db, legacy) == 0  # already imported: only renamed now
    assert not legacy.exists()
    with AuditLog(db) as log:
        assert [e.path for e in log.all() if e.action == "classify"] == ["/old/a"]


def test_damaged_legacy_file_is_reported_and_kept(tmp_path):
    from desktop.audit import AuditError

    legacy = tmp_path / "audit.sqlite3"
    legacy.write_bytes(b"SQLite format 3\0" + b"\xff" * 600)
    with pytest.raises(AuditError, match="could not be imported"):
        migrate_legacy(tmp_path / "review.sqlite3", legacy)
    assert legacy.exists()
