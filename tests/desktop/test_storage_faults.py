"""Storage faults of the data file (review list + audit trail): a deleted or replaced data
folder, a read-only one, a full disk; exports leave nothing behind on failure."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from desktop import sqlite_util
from desktop.audit import AuditEvent, AuditLog
from desktop.review_store import FlagEntry, ReviewStore, ReviewStoreError


def _entry(i: int, message: str = "") -> FlagEntry:
    return FlagEntry(path=f"/x/{i}", file_sha256=f"{i:064d}", status="ok", probability=0.9,
                     prediction="PNEUMONIA", threshold=0.5, model_sha256="m" * 64,
                     message=message)


@pytest.fixture
def read_only_sqlite(monkeypatch):
    """Connections to files under the returned set of folders open read-only (as on a
    read-only disk: the tests run as root, for whom permission bits do not stop writes)."""
    folders: set[Path] = set()
    real = sqlite3.connect

    def connect(path, *args, **kwargs):
        p = Path(path)
        if any(f in p.parents for f in folders):
            return real(p.resolve().as_uri() + "?mode=ro", *args, uri=True, **kwargs)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(sqlite_util.sqlite3, "connect", connect)
    return folders


def test_deleted_data_folder_is_detected_not_written_to_a_ghost_file(tmp_path):
    folder = tmp_path / "data"
    db = folder / "review.sqlite3"
    with ReviewStore(db) as store:
        shown = store.upsert(_entry(1))
        shutil.rmtree(folder)
        with pytest.raises(ReviewStoreError, match="deleted or moved"):
            store.mark(shown, "pending", "reviewed", "lost?")
        with pytest.raises(ReviewStoreError, match="deleted or moved"):
            store.upsert(_entry(2))


def test_replaced_data_file_is_detected(tmp_path):
    db = tmp_path / "review.sqlite3"
    with ReviewStore(db) as store:
        shown = store.upsert(_entry(1))
        os.replace(db, tmp_path / "moved.sqlite3")
        with ReviewStore(db):  # someone else starts a new file at the same path
            pass
        with pytest.raises(ReviewStoreError, match="replaced"):
            store.mark(shown, "pending", "reviewed", "x")


def test_read_only_data_is_reported_when_opening_with_the_cause(tmp_path, read_only_sqlite):
    db = tmp_path / "data" / "review.sqlite3"
    with ReviewStore(db) as store:
        store.upsert(_entry(1))
    read_only_sqlite.add(db.parent)
    with pytest.raises(ReviewStoreError, match="read-only"):
        ReviewStore(db)
    with pytest.raises(sqlite_util.StorageError, match="read-only"):
        AuditLog(db)


def _fill_until_full(store: ReviewStore) -> ReviewStoreError:
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 3}")
    for i in range(10_000):
        try:
            store.upsert(_entry(i, "x" * 3000))
        except ReviewStoreError as exc:
            return exc
    raise AssertionError("never full")


def test_full_disk_reports_the_real_cause_and_keeps_what_was_saved(tmp_path):
    db = tmp_path / "review.sqlite3"
    with ReviewStore(db) as store:
        exc = _fill_until_full(store)
        assert "full" in str(exc) and "cannot rollback" not in str(exc)
        saved = store.count()
        assert saved > 0 and store.integrity_ok()
        # a full disk mid-mark: the error names the cause, the entry keeps its state
        first = store.entries()[0]
        with pytest.raises(ReviewStoreError, match="full"):
            store.upsert_many([_entry(99_999, "y" * 20_000)],
                              audit=[AuditEvent(action="classify")])
        assert store.count() == saved
        assert store.get(first.path, first.file_sha256).review_state == "pending"


def test_full_disk_simulated_by_a_failing_write(tmp_path, monkeypatch):
    """The other injection the task names: the write itself raises 'disk is full'."""
    with ReviewStore(tmp_path / "r.db") as store:
        shown = store.upsert(_entry(1))

        def full(*_a, **_k):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr("desktop.review_store.insert_events", full)
        with pytest.raises(ReviewStoreError, match="full") as info:
            store.mark(shown, "pending", "reviewed", "x")
        assert "rollback" not in str(info.value)
        assert store.get(shown.path, shown.file_sha256).review_state == "pending"


@pytest.mark.parametrize("fail_at", ["rows", "replace"])
def test_export_failure_leaves_no_temporary_file_and_keeps_the_old_export(tmp_path, monkeypatch,
                                                                          fail_at):
    out = tmp_path / "flagged.csv"
    out.write_text("old export\n", encoding="utf-8")
    with ReviewStore(tmp_path / "r.db") as store:
        store.upsert(_entry(1))
        if fail_at == "rows":
            def entries(*_a, **_k):
                raise OSError(28, "No space left on device")
            monkeypatch.setattr(store, "entries", entries)
        else:
            def replace(*_a, **_k):
                raise OSError(28, "No space left on device")
            monkeypatch.setattr("pneumonia_core.atomic_files.os.replace", replace)
        with pytest.raises(OSError, match="No space"):
            store.export_csv(out)
    assert sorted(p.name for p in tmp_path.iterdir() if "flagged" in p.name) == ["flagged.csv"]
    assert out.read_text(encoding="utf-8") == "old export\n"
