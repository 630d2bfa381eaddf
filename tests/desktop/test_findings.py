"""Issue 25, item 2: reader findings in the review store and the reading session (no window):
recorded on any film, a model-NORMAL film found pneumonia goes on the worklist as a reader
finding, every finding audited with its reviewer and exported; the data format 2 migration
keeps every entry, and an older release refuses the newer file."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from desktop import sqlite_util
from desktop.audit import AuditLog
from desktop.findings import parse_finding
from desktop.review_store import FlagEntry, ReviewStore, ReviewStoreError

pytestmark = pytest.mark.usefixtures("home")


def film(name: str, p: float, status: str = "ok") -> FlagEntry:
    ok = status == "ok"
    return FlagEntry(path=f"/study/{name}", file_sha256=name.encode().hex().ljust(64, "0"),
                     status=status, probability=p if ok else None,
                     prediction=("PNEUMONIA" if p >= 0.5 else "NORMAL") if ok else "",
                     threshold=0.5, model_sha256="m" * 64)


def test_a_model_normal_film_found_pneumonia_goes_on_the_worklist(tmp_path: Path) -> None:
    db = tmp_path / "review.sqlite3"
    with ReviewStore(db) as store:
        normal = film("normal.jpeg", 0.12)
        found, entry = store.record_finding(normal, False, "pneumonia", "RLL opacity", "dr_a")
        assert found.finding == "pneumonia" and found.reviewer == "dr_a"
        assert found.model_positive is False and found.probability == pytest.approx(0.12)
        assert entry is not None and entry.origin == "reader" and entry.review_state == "pending"
        assert entry.finding == "pneumonia" and entry.finding_note == "RLL opacity"
        assert [e.key for e in store.entries()] == [normal.key]
        # "no pneumonia" on another unflagged film: recorded, not put on the list
        clear = film("clear.jpeg", 0.05)
        _f, none = store.record_finding(clear, False, "no_pneumonia", "", "dr_a")
        assert none is None and len(store.entries()) == 1
        assert store.finding(*clear.key).finding == "no_pneumonia"
        # a change of operating point never drops a reader's entry
        store.apply_threshold_change([], [normal.key], None)
        assert store.remove_pending(*normal.key) is False
        assert [e.key for e in store.entries()] == [normal.key]
        # recording again replaces the finding; the audit keeps both
        store.record_finding(normal, False, "not_assessable", "rotated", "dr_b")
        assert store.finding(*normal.key).finding == "not_assessable"
        assert store.finding(*normal.key).revision == 2
    with AuditLog(db) as audit:
        events = [e for e in audit.all() if e.action.startswith("finding:")]
    assert [(e.action, e.user, e.note, e.details["from"]) for e in events] == [
        ("finding:pneumonia", "dr_a", "RLL opacity", ""),
        ("finding:no_pneumonia", "dr_a", "", ""),
        ("finding:not_assessable", "dr_b", "rotated", "pneumonia")]
    assert events[0].details["model_flagged"] is False and events[0].probability == 0.12
    with AuditLog(db) as audit:
        assert audit.verify().ok


def test_findings_are_exported_with_the_worklist_and_on_their_own(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "review.sqlite3") as store:
        flagged = film("flagged.jpeg", 0.91)
        store.upsert(flagged)
        store.record_finding(flagged, True, "no_pneumonia", "artefact", "dr_a")
        store.record_finding(film("normal.jpeg", 0.2), False, "pneumonia", "", "dr_b")
        store.record_finding(film("clear.jpeg", 0.1), False, "no_pneumonia", "", "dr_b")
        assert store.export_csv(tmp_path / "flagged.csv") == 2
        assert store.export_findings_csv(tmp_path / "findings.csv") == 3
    with open(tmp_path / "flagged.csv", encoding="utf-8") as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    assert rows["/study/flagged.jpeg"]["finding"] == "no_pneumonia"
    assert rows["/study/flagged.jpeg"]["finding_reviewer"] == "dr_a"
    assert rows["/study/flagged.jpeg"]["origin"] == "model"
    assert rows["/study/normal.jpeg"]["origin"] == "reader"
    assert rows["/study/normal.jpeg"]["finding"] == "pneumonia"
    with open(tmp_path / "findings.csv", encoding="utf-8") as fh:
        found = list(csv.DictReader(fh))
    assert sorted(r["finding"] for r in found) == ["no_pneumonia", "no_pneumonia", "pneumonia"]
    assert {r["reviewer"] for r in found} == {"dr_a", "dr_b"}


def test_data_format_2_migration_keeps_every_entry_and_older_releases_refuse_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "review.sqlite3"
    with ReviewStore(db) as store:
        for i in range(5):
            store.upsert(film(f"f{i}.jpeg", 0.6 + i / 20))
        store.set_review("/study/f1.jpeg", film("f1.jpeg", 0).file_sha256, "reviewed", "seen")
        before = [(e.key, e.review_state, e.note, e.revision) for e in store.entries()]
    # make it a data format 1 file (as today's main writes it): no findings, no origin
    with sqlite3.connect(db) as con:
        con.execute("DROP TABLE findings")
        con.execute("ALTER TABLE flags DROP COLUMN origin")
        con.execute("PRAGMA user_version=1")
    with ReviewStore(db) as store:
        after = [(e.key, e.review_state, e.note, e.revision) for e in store.entries()]
        assert {e.origin for e in store.entries()} == {"model"}
        store.record_finding(film("f0.jpeg", 0.6), True, "pneumonia")
    assert after == before
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    # an older release (data format 1) refuses the file and changes nothing in it
    monkeypatch.setattr(sqlite_util, "DATA_FORMAT", 1)
    saved = db.read_bytes()
    with pytest.raises(ReviewStoreError, match="newer release of pneumonia-xray .data format 2"):
        ReviewStore(db)
    assert db.read_bytes() == saved


def test_unknown_findings_are_refused_with_what_was_received(tmp_path: Path) -> None:
    assert parse_finding("No pneumonia") == "no_pneumonia"
    with pytest.raises(ValueError, match="received 'maybe'"):
        parse_finding("maybe")
    with ReviewStore(tmp_path / "r.sqlite3") as store, pytest.raises(ValueError, match="maybe"):
        store.record_finding(film("a.jpeg", 0.3), False, "maybe")


def test_the_session_records_findings_on_open_rows_and_worklist_entries(tmp_path: Path) -> None:
    """The logic the window's keys call, without a window: an open row the model did not flag
    (a threshold above every P) goes on the worklist; a film not classified yet is refused."""
    from desktop import jobs
    from desktop.jobs import ResultRow
    from desktop.session import ReadingSession
    from desktop.settings import Settings
    from pneumonia_core.model import ModelBundle
    from tests.conftest import MODEL_DIR
    from tests.desktop.test_site_calibrate import generated_films

    study = sorted(generated_films(tmp_path / "films", n=2).rglob("*.jpeg"))
    s = ReadingSession(ModelBundle.load(MODEL_DIR), Settings.load(), cli_threshold=0.999999)
    try:
        for event in jobs.classified(jobs.classify_job([str(p) for p in study], s.bundle,
                                                       s.point, s.storage.db)):
            s.add_rows([event.row])
        row = next(r for r in s.results.rows if r.status == "ok" and not r.flagged)
        found, entry = s.record_finding(row, "pneumonia", "missed", "dr_a")
        assert entry is not None and entry.origin == "reader" and entry.note == ""
        assert found.threshold == pytest.approx(0.999999) and found.model_positive is False
        assert s.finding_of(row).note == "missed"
        # the worklist entry of an earlier session: recorded on the entry itself
        found2, _ = s.record_finding(entry, "not_assessable", "", "dr_b")
        assert found2.flagged is False and s.finding_of(entry).reviewer == "dr_b"
        with pytest.raises(ValueError, match="not classified yet"):
            s.record_finding(ResultRow(str(study[0]), "pending"), "pneumonia")
    finally:
        s.close()
