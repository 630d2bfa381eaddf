"""The review store keeps each entry's DICOM identifiers and exports them in the columns of
desktop/identifiers.py (issue 25); a data file made before them is migrated in place."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

from desktop import identifiers
from desktop.jobs import ResultRow, flag_entry
from desktop.review_store import EXPORT_COLUMNS, FlagEntry, ReviewStore
from tests.desktop.test_cli_exports import IDS


def _export(store: ReviewStore, out: Path) -> list[dict[str, str]]:
    store.export_csv(out)
    return list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))


def test_entries_export_their_identifiers_and_empty_cells_without(tmp_path: Path) -> None:
    dicom = ResultRow("/x/film.dcm", "ok", 0.9, "PNEUMONIA", "", "aaaa", 0.5, True,
                      identifiers=identifiers.of(IDS))
    png = ResultRow("/x/film.png", "ok", 0.8, "PNEUMONIA", "", "bbbb", 0.5, True)
    with ReviewStore(tmp_path / "r.db") as store:
        store.upsert_many([flag_entry(dicom, "m" * 64), flag_entry(png, "m" * 64)])
        rows = _export(store, tmp_path / "flags.csv")
    assert EXPORT_COLUMNS[-len(identifiers.COLUMNS):] == list(identifiers.COLUMNS)
    assert "identifiers" not in EXPORT_COLUMNS and "fs_path" not in EXPORT_COLUMNS
    by_name = {Path(r["path"]).name: r for r in rows}
    assert {k: by_name["film.dcm"][k] for k in identifiers.COLUMNS} == IDS
    assert all(by_name["film.png"][k] == "" for k in identifiers.COLUMNS)


def test_a_refresh_without_identifiers_keeps_the_stored_ones(tmp_path: Path) -> None:
    entry = FlagEntry(path="/x/a.dcm", file_sha256="aaaa", status="ok", probability=0.7,
                      identifiers=identifiers.to_text(identifiers.of(IDS)))
    with ReviewStore(tmp_path / "r.db") as store:
        store.upsert(entry)
        again = store.upsert(FlagEntry(path="/x/a.dcm", file_sha256="aaaa", status="ok",
                                       probability=0.8))
    assert again.probability == 0.8
    assert identifiers.from_text(again.identifiers) == identifiers.of(IDS)


def test_a_data_file_from_before_the_identifiers_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with ReviewStore(db) as store:
        store.upsert(FlagEntry(path="/x/old.png", file_sha256="cccc", status="ok",
                               probability=0.6, note="kept"))
    con = sqlite3.connect(db)  # as an older release left it: no identifiers column
    con.execute("ALTER TABLE flags DROP COLUMN identifiers")
    con.commit()
    con.close()
    with ReviewStore(db) as store:
        [old] = store.entries()
        assert old.note == "kept" and old.identifiers == ""
        rows = _export(store, tmp_path / "flags.csv")
    assert rows[0]["PatientID"] == "" and rows[0]["path"] == "/x/old.png"
