"""The command line's defects found in the issue-25 trial, and the PACS identifiers of the
``classify`` CSV: every subcommand in the main ``--help``; ``--csv -`` writes clean CSV to
standard output; a missing path's error row is counted; DICOM identifiers in every row."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.dicom_films import write_dx_dicom
from desktop import cli, commands, identifiers
from desktop.__main__ import is_headless
from pneumonia_core.dicom import INFO_TAGS
from tests.conftest import ROOT, synthetic_xray
from tests.desktop.test_batch import read_csv, run, write_xrays

pytestmark = pytest.mark.usefixtures("home")

#: Identifiers of the generated DICOM film (no real patient).
IDS = {"PatientID": "PX-0042", "AccessionNumber": "ACC123456", "StudyDate": "20260131",
       "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1", "SeriesInstanceUID":
       "1.2.826.0.1.3680043.8.498.2", "SOPInstanceUID": "1.2.826.0.1.3680043.8.498.3"}


def dicom_film(path: Path) -> Path:
    stored = synthetic_xray(3).astype(np.uint16) * 16
    return write_dx_dicom(path, stored, "MONOCHROME2", 12, PatientName="Test^Film", **IDS)


# -- the main --help lists every subcommand -------------------------------------------------
def test_main_help_lists_every_subcommand_from_the_one_list() -> None:
    out = io.StringIO()
    code = -1
    from contextlib import redirect_stdout

    with redirect_stdout(out):
        code = cli.main(["--help"])
    assert code == 0
    text = out.getvalue()
    listed = re.findall(r"^ {4}(\w+) +\S", text, flags=re.M)  # argparse's COMMAND section
    assert listed == list(commands.NAMES)
    assert "calibrate" in listed and "profile" in listed
    for c in commands.COMMANDS:
        assert is_headless([c.name]), c.name  # the window never takes a command's name


def test_listed_commands_with_their_own_parser_run_through_cli_main() -> None:
    out = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(out):
        code = cli.main(["calibrate", "--help"])
    assert code == 0 and "site profile" in out.getvalue()


# -- --csv - ----------------------------------------------------------------------------------
def test_csv_dash_writes_clean_csv_to_stdout_and_the_rest_to_stderr(tmp_path: Path) -> None:
    """A separate process, so that anything native writing to file descriptor 1 (the runtime's
    banner) would also show in stdout."""
    files = write_xrays(tmp_path / "in", [1, 2])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "desktop", "classify", *map(str, files),
                           str(tmp_path / "missing.png"), "--csv", "-"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == cli.EXIT_INCOMPLETE, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == list(cli.CSV_HEADER)
    assert [Path(r[0]).name for r in rows[1:]] == ["xray_01.png", "xray_02.png", "missing.png"]
    assert all(len(r) == len(cli.CSV_HEADER) for r in rows)
    assert "3 row(s)" in done.stderr and "-> the CSV on standard output" in done.stderr
    assert not (tmp_path / "-").exists()


def test_csv_dash_in_process_uses_the_given_stdout(tmp_path: Path) -> None:
    files = write_xrays(tmp_path / "in", [4])
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["classify", str(files[0]), "--csv", "-"], stdout=out, stderr=err)
    assert code == cli.EXIT_OK, err.getvalue()
    header, *rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == list(cli.CSV_HEADER) and len(rows) == 1
    assert "classified 1 file(s)" in err.getvalue() and "classified" not in out.getvalue()


# -- counts equal rows ------------------------------------------------------------------------
def _summary_counts(err: str) -> dict[str, int]:
    line = next(ln for ln in err.splitlines() if ln.startswith("classified"))
    found = {k: int(v) for v, k in re.findall(r"(\d+) (ok|error|out of scope|row\(s\))", line)}
    found["flagged"] = int(re.search(r"(\d+) flagged for review", line).group(1))
    return found


def test_a_missing_path_is_counted_like_its_error_row(tmp_path: Path) -> None:
    files = write_xrays(tmp_path / "in", [1])
    out = tmp_path / "out.csv"
    code, _, err = run(["classify", str(files[0]), str(tmp_path / "gone.png"), "--csv",
                        str(out)])
    assert code == cli.EXIT_INCOMPLETE
    _, rows = read_csv(out)
    counts = _summary_counts(err)
    assert counts["row(s)"] == len(rows) == 2
    assert counts["ok"] + counts["error"] + counts["out of scope"] == len(rows)
    assert counts["error"] == sum(r["status"] == "error" for r in rows) == 1
    assert counts["flagged"] == sum(r["flagged"] == "1" for r in rows)
    assert "(1 path(s) not found)" in err


# -- DICOM identifiers ------------------------------------------------------------------------
def test_the_identifiers_are_read_at_decode() -> None:
    assert set(identifiers.COLUMNS) <= set(INFO_TAGS)


def test_classify_csv_carries_the_dicom_identifiers_and_empty_cells_otherwise(
        tmp_path: Path) -> None:
    film = dicom_film(tmp_path / "in" / "film.dcm")
    png = write_xrays(tmp_path / "in", [2])[0]
    out = tmp_path / "out.csv"
    code, _, err = run(["classify", str(film), str(png), "--csv", str(out)])
    header, rows = read_csv(out)
    assert header == list(cli.CSV_HEADER)
    assert header[-len(identifiers.COLUMNS):] == list(identifiers.COLUMNS)
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["film.dcm"]["status"] == "ok", by_name["film.dcm"]
    assert {k: by_name["film.dcm"][k] for k in identifiers.COLUMNS} == IDS
    assert all(by_name["xray_02.png"][k] == "" for k in identifiers.COLUMNS)
    assert "Test" not in out.read_text(encoding="utf-8")  # the name is not an identifier


def test_identifiers_round_trip_through_their_stored_text() -> None:
    values = identifiers.of(IDS)
    assert identifiers.from_text(identifiers.to_text(values)) == values
    assert identifiers.to_text(identifiers.NONE) == ""
    assert identifiers.from_text("") == identifiers.NONE
    assert identifiers.from_text("{not json") == identifiers.NONE
    partial = identifiers.of({"PatientID": "7"})
    assert identifiers.cells(partial) == ["7", "", "", "", "", ""]
