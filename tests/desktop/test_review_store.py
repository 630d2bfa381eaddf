"""The flagged-for-review store, without any widget."""

from __future__ import annotations

import csv
import io
import sqlite3

import pytest

from desktop.review_store import FlagEntry, ReviewStore, ReviewStoreError


def _entry(name: str, p: float | None, status: str = "ok") -> FlagEntry:
    return FlagEntry(path=f"/x/{name}", file_sha256=name * 4, status=status, probability=p,
                     prediction="PNEUMONIA" if p is not None else "", threshold=0.5,
                     model_sha256="m" * 64, message="" if p is not None else "bad file")


def test_sorted_most_likely_first_and_unassessed_last(tmp_path):
    with ReviewStore(tmp_path / "r.db") as store:
        for e in [_entry("a", 0.6), _entry("b", None, "error"), _entry("c", 0.95),
                  _entry("d", None, "out_of_scope"), _entry("e", 0.7)]:
            store.upsert(e)
        names = [e.path[-1] for e in store.entries()]
    assert names == ["c", "e", "a", "b", "d"]


def test_wal_and_full_sync(tmp_path):
    store = ReviewStore(tmp_path / "r.db")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_review_state_survives_reopen_and_reclassification(tmp_path):
    db = tmp_path / "r.db"
    with ReviewStore(db) as store:
        store.upsert(_entry("a", 0.8))
        store.upsert(_entry("b", 0.9))
        marked = store.set_review("/x/a", "aaaa", "reviewed", "consolidation RLL")
        assert marked.reviewed_at
        store.set_review("/x/b", "bbbb", "dismissed", "artefact")
    with ReviewStore(db) as store:  # a new connection, as after a restart
        a = store.get("/x/a", "aaaa")
        assert (a.review_state, a.note) == ("reviewed", "consolidation RLL")
        # Classifying the same file again refreshes the score but keeps the review.
        again = store.upsert(_entry("a", 0.85))
        assert again.probability == pytest.approx(0.85)
        assert (again.review_state, again.note) == ("reviewed", "consolidation RLL")
        assert [e.path for e in store.entries(("dismissed",))] == ["/x/b"]
        assert store.count() == 2 and store.integrity_ok()


def test_same_path_other_content_is_a_new_entry(tmp_path):
    with ReviewStore(tmp_path / "r.db") as store:
        store.upsert(_entry("a", 0.8))
        other = _entry("a", 0.6)
        other.file_sha256 = "f" * 64
        store.upsert(other)
        assert store.count() == 2


def test_remove_pending_only(tmp_path):
    with ReviewStore(tmp_path / "r.db") as store:
        store.upsert(_entry("a", 0.8))
        store.upsert(_entry("b", 0.8))
        store.set_review("/x/b", "bbbb", "reviewed", "")
        assert store.remove_pending("/x/a", "aaaa") is True
        assert store.remove_pending("/x/b", "bbbb") is False
        assert [e.path for e in store.entries()] == ["/x/b"]


def test_bad_values_refused(tmp_path):
    with ReviewStore(tmp_path / "r.db") as store:
        with pytest.raises(ValueError):
            store.upsert(_entry("a", 0.8, status="maybe"))
        store.upsert(_entry("a", 0.8))
        with pytest.raises(ValueError):
            store.set_review("/x/a", "aaaa", "lost", "")
        with pytest.raises(KeyError):
            store.set_review("/x/zz", "zz", "reviewed", "")


def test_csv_export(tmp_path):
    out = tmp_path / "flags.csv"
    with ReviewStore(tmp_path / "r.db") as store:
        store.upsert(_entry("a", 0.6))
        store.upsert(_entry("b", None, "error"))
        store.upsert(_entry("c", 0.9))
        store.set_review("/x/c", "cccc", "reviewed", "=HYPERLINK(\"evil\")")
        assert store.export_csv(out) == 3
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    # the worklist's reading order: the unassessed entry first, then the most likely (issue 25)
    assert [r["path"] for r in rows] == ["/x/b", "/x/c", "/x/a"]
    assert float(rows[1]["probability"]) == pytest.approx(0.9)
    assert rows[1]["review_state"] == "reviewed"
    assert rows[1]["note"].startswith("'=")  # spreadsheet formula defused
    assert rows[0]["status"] == "error" and rows[0]["probability"] == ""
    assert rows[0]["message"] == "bad file"


def test_unwritable_location_gives_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ReviewStoreError, match="review list"):
        ReviewStore(blocker / "r.db")


def test_two_connections_see_each_other(tmp_path):
    db = tmp_path / "r.db"
    a, b = ReviewStore(db), ReviewStore(db)
    a.upsert(_entry("a", 0.7))
    assert b.get("/x/a", "aaaa") is not None
    a.close()
    b.close()
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM flags").fetchone()[0] == 1
