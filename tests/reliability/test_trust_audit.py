"""Issue 23, reproductions 2, 3 and 5: the audit trail's end and shape are anchored, the review
list is reconciled with the trail, and a read-only data folder still shows and verifies the
saved list. Each edit is made the way a local user would (sqlite3 on the file, a copy, rm),
and each verdict comes from the real ``verify`` command."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from desktop import audit_anchor, cli, paths, sqlite_util
from desktop.audit import TRIGGERS, AuditEvent, AuditLog, row_hash
from desktop.review_store import FlagEntry, ReviewStore

pytestmark = pytest.mark.usefixtures("home")


def verify(*extra: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["verify", *extra], stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def seed(n_events: int = 6, marks: bool = True) -> Path:
    """The app's data file with flagged entries, review marks and classification events,
    written through the app's own stores (so the anchor is kept as in use)."""
    db = paths.review_db_path()
    with ReviewStore(db) as store:
        store.upsert_many([FlagEntry(path=f"/films/{i}.png", file_sha256=f"{i:064d}",
                                     status="ok", probability=0.9, prediction="PNEUMONIA")
                           for i in range(3)])
        if marks:
            store.set_review("/films/0.png", f"{0:064d}", "reviewed", "seen", "dr_a")
            store.set_review("/films/1.png", f"{1:064d}", "dismissed", "artefact", "dr_b")
    with AuditLog(db) as log:
        for i in range(n_events):
            log.append(AuditEvent(action="classify", path=f"/films/x{i}.png", decision="NORMAL"))
    return db


def sql(db: Path, *statements: str) -> None:
    con = sqlite3.connect(db)
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()


NOOP = ("DROP TRIGGER audit_no_delete",
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT 1; END",
        "DROP TRIGGER audit_no_update",
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT 1; END")


def test_intact_trail_verifies_and_the_anchor_follows_every_change() -> None:
    db = seed()
    code, text = verify()
    assert code == cli.EXIT_OK and "intact" in text, text
    anchor = audit_anchor.read(audit_anchor.anchor_path(db))
    with AuditLog(db) as log:
        assert anchor.count == log.count() and anchor.head_hash == log.recent(1)[0].hash
    assert paths.data_dir() not in audit_anchor.anchor_path(db).parents  # kept elsewhere


def test_same_named_no_op_triggers_are_reported() -> None:
    db = seed()
    sql(db, *NOOP)
    code, text = verify()
    assert code == cli.EXIT_TAMPERED and "audit_no_delete was REPLACED" in text
    sql(db, "CREATE TRIGGER sneaky AFTER INSERT ON audit BEGIN SELECT 1; END")
    assert "unknown trigger sneaky" in verify()[1]


def test_deleting_the_newest_rows_and_editing_sqlite_sequence_is_detected() -> None:
    db = seed()
    sql(db, *NOOP, "DELETE FROM audit WHERE id > (SELECT MAX(id) - 2 FROM audit)",
        "UPDATE sqlite_sequence SET seq = (SELECT MAX(id) FROM audit) WHERE name='audit'",
        *(f"DROP TRIGGER {n}" for n in TRIGGERS), *TRIGGERS.values())
    code, text = verify()
    assert code == cli.EXIT_TAMPERED and "SHORTER THAN OR DIFFERENT FROM its anchor" in text
    assert "REPLACED" not in text  # the triggers were put back exactly: only the anchor tells


def test_emptying_the_table_is_detected() -> None:
    db = seed()
    sql(db, *NOOP, "DELETE FROM audit", "DELETE FROM sqlite_sequence",
        *(f"DROP TRIGGER {n}" for n in TRIGGERS), *TRIGGERS.values())
    code, text = verify()
    assert code == cli.EXIT_TAMPERED and "the database holds 0 events" in text


def test_a_deleted_database_is_detected() -> None:
    db = seed()
    db.unlink()
    for side in ("-wal", "-shm"):
        db.with_name(db.name + side).unlink(missing_ok=True)
    code, text = verify()
    assert code == cli.EXIT_TAMPERED and "MISSING" in text


def test_restoring_an_older_copy_is_detected_and_the_anchor_does_not_follow_it(
        tmp_path: Path) -> None:
    db = seed(2)
    old = tmp_path / "old.sqlite3"
    src, dst = sqlite3.connect(db), sqlite3.connect(old)
    src.backup(dst)
    src.close()
    dst.close()
    with AuditLog(db) as log:
        log.append(AuditEvent(action="classify", path="/films/late.png", decision="PNEUMONIA"))
    anchored = audit_anchor.read(audit_anchor.anchor_path(db))
    shutil.copyfile(old, db)
    for side in ("-wal", "-shm"):
        db.with_name(db.name + side).unlink(missing_ok=True)
    code, text = verify()
    assert code == cli.EXIT_TAMPERED and "older copy" in text, text
    with AuditLog(db) as log:  # the app keeps writing: the anchor keeps the evidence
        log.append(AuditEvent(action="classify", path="/films/next.png", decision="NORMAL"))
    assert audit_anchor.read(audit_anchor.anchor_path(db)) == anchored
    assert verify()[0] == cli.EXIT_TAMPERED
    # IT looked into it and accepts the file as it is now: audited, and verify passes again
    code, text = verify("--reanchor")
    assert code == 0 and "replaces" in text
    code, text = verify()
    assert code == 0, text


def test_middle_rows_deleted_and_the_chain_rewritten_show_as_an_id_gap() -> None:
    db = seed()
    con = sqlite3.connect(db)
    for s in NOOP:
        con.execute(s)
    con.execute("DELETE FROM audit WHERE id IN (3, 4)")
    cols = ["id", "time", "action", "path", "file_sha256", "model_sha256", "probability",
            "threshold", "decision", "note", "user", "details", "prev_hash", "hash"]
    prev = "0" * 64
    for r in con.execute(f"SELECT {', '.join(cols)} FROM audit ORDER BY id").fetchall():
        row = dict(zip(cols, r, strict=True))
        h = row_hash(prev, row)
        con.execute("UPDATE audit SET prev_hash=?, hash=? WHERE id=?", (prev, h, row["id"]))
        prev = h
    for n in TRIGGERS:
        con.execute(f"DROP TRIGGER {n}")
    for s in TRIGGERS.values():
        con.execute(s)
    con.commit()
    con.close()
    code, text = verify()
    assert code == cli.EXIT_TAMPERED and "gap(s) in the event ids" in text and "3..4" in text
    assert "do not match their hash" not in text  # the chain itself verifies


def test_exported_anchor_for_it_and_checking_against_it(tmp_path: Path) -> None:
    db = seed()
    exported = tmp_path / "it" / "anchor.json"
    exported.parent.mkdir()
    code, text = verify("--export-anchor", str(exported))
    assert code == 0 and "anchor written" in text
    assert json.loads(exported.read_text())["head_hash"]
    # a user who can write the app's own anchor rewrites both; IT's copy still tells
    sql(db, *NOOP, "DELETE FROM audit WHERE id > (SELECT MAX(id) - 1 FROM audit)")
    audit_anchor.anchor_path(db).unlink()
    assert "SHORTER" not in verify()[1]
    code, text = verify("--anchor", str(exported))
    assert code == cli.EXIT_TAMPERED and "the given anchor" in text
    # the export never replaces a file that is not an anchor
    doc = tmp_path / "notes.json"
    doc.write_text('{"mine": 1}')
    code, text = verify("--export-anchor", str(doc))
    assert code == cli.EXIT_USAGE and "not an audit anchor" in text and "mine" in doc.read_text()


# -- 3. the review list reconciled with the trail --------------------------------------------
def test_review_list_edited_outside_the_app_is_reported_entry_by_entry() -> None:
    db = seed()
    sql(db, "UPDATE flags SET review_state='dismissed' WHERE path='/films/2.png'",
        "UPDATE flags SET reviewer='dr_x' WHERE path='/films/0.png'",
        "UPDATE flags SET note='nothing' WHERE path='/films/1.png'")
    code, text = verify()
    assert code == cli.EXIT_TAMPERED and "3 review entries disagree" in text
    assert "/films/2.png" in text and "state 'dismissed', trail says 'pending'" in text
    assert "reviewer 'dr_x', trail says 'dr_a'" in text
    assert "note 'nothing', trail says 'artefact'" in text


def test_a_reviewed_entry_deleted_from_the_list_is_reported() -> None:
    db = seed()
    sql(db, "DELETE FROM flags WHERE path='/films/0.png'")
    code, text = verify()
    assert code == cli.EXIT_TAMPERED and "reviewed in the trail but missing" in text


# -- 5. read-only storage ----------------------------------------------------------------------
def read_only_folder(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """SQLite in a read-only folder: a WAL database cannot be opened even with mode=ro (it
    needs its -shm file), and nothing can be written (also when the tests run as root)."""
    real = sqlite3.connect

    def connect(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        text = str(path)
        if folder.as_uri() in text or Path(text.split("?")[0]).parent == folder:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(sqlite_util.sqlite3, "connect", connect)


def test_verify_works_on_a_read_only_wal_file(monkeypatch: pytest.MonkeyPatch) -> None:
    db = seed()
    con = sqlite3.connect(db)  # keep a -wal with committed rows not yet checkpointed
    con.execute("PRAGMA wal_autocheckpoint=0")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with AuditLog(db) as log:
        log.append(AuditEvent(action="classify", path="/films/in_wal.png", decision="NORMAL"))
    read_only_folder(monkeypatch, db.parent)
    code, text = verify()
    con.close()
    assert code == cli.EXIT_OK and "intact: 9 events" in text, text  # the WAL's row counted
