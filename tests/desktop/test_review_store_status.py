"""The review store accepts the ``outside_intended_use`` status (issue 21), also in a
database made by an earlier version, whose CHECK refused it: the table is rebuilt, rows kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from desktop.review_store import FlagEntry, ReviewStore

OLD_TABLE = """CREATE TABLE flags (
    path TEXT NOT NULL, file_sha256 TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'out_of_scope')),
    probability REAL, prediction TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '',
    threshold REAL, model_sha256 TEXT NOT NULL DEFAULT '',
    review_state TEXT NOT NULL DEFAULT 'pending'
                 CHECK (review_state IN ('pending', 'reviewed', 'dismissed')),
    note TEXT NOT NULL DEFAULT '', reviewed_at TEXT NOT NULL DEFAULT '',
    flagged_at TEXT NOT NULL, PRIMARY KEY (path, file_sha256))"""


def test_old_database_is_widened_and_keeps_its_rows(tmp_path: Path) -> None:
    db_path = tmp_path / "review.sqlite3"
    db = sqlite3.connect(db_path)
    db.execute(OLD_TABLE)
    db.execute("INSERT INTO flags (path, file_sha256, status, message, review_state, note, "
               "flagged_at) VALUES ('a.png', 'aa', 'out_of_scope', 'photo', 'reviewed', "
               "'seen', '2026-01-01T00:00:00Z')")
    db.commit()
    try:
        db.execute("INSERT INTO flags (path, file_sha256, status, flagged_at) VALUES "
                   "('b.dcm', 'bb', 'outside_intended_use', 'x')")
        raise AssertionError("the old CHECK should refuse the new status")
    except sqlite3.IntegrityError:
        pass
    db.close()
    with ReviewStore(db_path) as store:
        store.upsert(FlagEntry("b.dcm", "bb", "outside_intended_use",
                               message="Outside the intended use: patient age 45 years (adult)"))
        got = {e.path: e for e in store.entries()}
    assert got["a.png"].status == "out_of_scope" and got["a.png"].review_state == "reviewed"
    assert got["a.png"].note == "seen"
    assert got["b.dcm"].status == "outside_intended_use" and "45 years" in got["b.dcm"].message
    with ReviewStore(db_path) as store:  # reopening does not rebuild again or lose rows
        assert len(store.entries()) == 2
