"""Review marks with several windows: compare-and-set, reviewer, audit in the same commit."""

from __future__ import annotations

import csv

import pytest

from desktop.audit import AuditLog
from desktop.review_store import FlagEntry, ReviewStore


def _entry(name: str = "a") -> FlagEntry:
    return FlagEntry(path=f"/x/{name}", file_sha256=name * 64, status="ok", probability=0.9,
                     prediction="PNEUMONIA", threshold=0.5, model_sha256="m" * 64)


def test_two_windows_second_mark_is_a_conflict_and_shows_the_first(tmp_path):
    db = tmp_path / "data.sqlite3"
    with ReviewStore(db) as a, ReviewStore(db) as b:
        a.upsert(_entry())
        shown_a = a.entries()[0]
        shown_b = b.entries()[0]  # window B also shows "pending"
        ra = a.mark(shown_a, "pending", "reviewed", "note A", reviewer="dr_a")
        assert ra.applied and ra.entry.review_state == "reviewed" and ra.entry.revision == 1
        rb = b.mark(shown_b, "pending", "dismissed", "note B", reviewer="dr_b")
        assert rb.conflict
        assert (rb.entry.review_state, rb.entry.note, rb.entry.reviewer) == (
            "reviewed", "note A", "dr_a")
        assert "reviewed" in rb.message and "dr_a" in rb.message
        # the database keeps A; B's refreshed entry can now be marked on purpose
        rb2 = b.mark(rb.entry, "reviewed", "dismissed", "note B", reviewer="dr_b")
        assert rb2.applied and rb2.entry.revision == 2
        out = tmp_path / "export.csv"
        a.export_csv(out)
    with out.open(encoding="utf-8", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert (row["review_state"], row["note"], row["reviewer"]) == ("dismissed", "note B", "dr_b")
    with AuditLog(db) as log:
        marks = [(e.action, e.user, e.note) for e in log.all() if e.action.startswith("review")]
        assert marks == [("review:reviewed", "dr_a", "note A"),
                         ("review:dismissed", "dr_b", "note B")]
        assert log.verify().ok


def test_same_state_but_newer_revision_is_a_conflict(tmp_path):
    db = tmp_path / "d.db"
    with ReviewStore(db) as a, ReviewStore(db) as b:
        a.upsert(_entry())
        stale = b.entries()[0]
        e = a.mark(a.entries()[0], "pending", "reviewed", "first").entry
        a.mark(e, "reviewed", "pending", "undo")  # back to pending, revision 2
        result = b.mark(stale, "pending", "dismissed", "late")
        assert result.conflict and result.entry.revision == 2
        assert a.get(stale.path, stale.file_sha256).note == "undo"


def test_mark_of_a_removed_entry_is_a_conflict(tmp_path):
    with ReviewStore(tmp_path / "d.db") as s:
        e = s.upsert(_entry())
        assert s.remove_pending(e.path, e.file_sha256)
        result = s.mark(e, "pending", "reviewed", "x")
        assert result.conflict and result.entry is None and "no longer" in result.message


def test_reviewer_defaults_to_the_os_account(tmp_path, monkeypatch):
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "radiologist7")
    with ReviewStore(tmp_path / "d.db") as s:
        e = s.upsert(_entry())
        assert s.mark(e, "pending", "reviewed", "ok").entry.reviewer == "radiologist7"
    with AuditLog(tmp_path / "d.db") as log:
        assert log.all()[-1].user == "radiologist7"


def test_invalid_states_are_refused(tmp_path):
    with ReviewStore(tmp_path / "d.db") as s:
        e = s.upsert(_entry())
        with pytest.raises(ValueError):
            s.mark(e, "pending", "lost", "")
        with pytest.raises(ValueError):
            s.mark(e, "gone", "reviewed", "")


def test_upsert_many_commits_flags_and_audit_events_together(tmp_path, monkeypatch):
    from desktop import audit as audit_mod
    from desktop.audit import AuditEvent
    from desktop.review_store import ReviewStoreError

    db = tmp_path / "d.db"
    with ReviewStore(db) as s:
        def broken(*_a, **_k):
            raise audit_mod.sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr("desktop.review_store.insert_events", broken)
        with pytest.raises(ReviewStoreError, match="full"):
            s.upsert_many([_entry("b")], audit=[AuditEvent(action="classify", path="/x/b")])
        assert s.count() == 0  # the flag was rolled back with the event


def test_threshold_change_is_one_transaction(tmp_path, monkeypatch):
    from desktop.audit import AuditEvent
    from desktop.review_store import ReviewStoreError

    with ReviewStore(tmp_path / "d.db") as s:
        old = s.upsert(_entry("old"))
        event = AuditEvent(action="threshold", note="0.5 -> 0.9")

        def full(*_a, **_k):
            raise __import__("sqlite3").OperationalError("database or disk is full")

        monkeypatch.setattr("desktop.review_store.insert_events", full)
        with pytest.raises(ReviewStoreError, match="full"):
            s.apply_threshold_change([_entry("new")], [old.key], event)
        assert [e.path for e in s.entries()] == ["/x/old"]  # neither added nor dropped
        monkeypatch.undo()
        added = s.apply_threshold_change([_entry("new")], [old.key], event)
        assert [e.path for e in added] == ["/x/new"] and [e.path for e in s.entries()] == ["/x/new"]
