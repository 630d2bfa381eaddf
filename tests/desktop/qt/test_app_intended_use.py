"""Issue 21, item 5, in the window: a DICOM chest film whose tags put it outside the intended
use (adult age, lateral or decubitus view) is shown as "outside intended use" with its
reason, flagged for a person to look at, and audited as such; never a silent normal row."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.audit import AuditLog
from tests.desktop.qt.app_helpers import new_window
from tests.desktop.test_intended_use_batch import CASES, film_dicom

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def test_each_intended_use_tag_is_marked_in_the_worklist_and_audit(qtbot, tmp_path,
                                                                   full_res_images):
    files = {}
    for k, (tag, value, words) in enumerate(CASES):
        files[film_dicom(tmp_path / "ward" / f"case{k}.dcm", full_res_images, **{tag: value})] = words
    child = film_dicom(tmp_path / "ward" / "child.dcm", full_res_images, PatientAge="004Y",
                       ViewPosition="AP")
    w = new_window(qtbot, [tmp_path / "ward"])
    status_col = w.results.HEADERS.index("Status")
    finding_col = w.results.HEADERS.index("Finding")
    for path, words in files.items():
        i = w.results.row_of(str(path))
        row = w.results.row_at(i)
        assert row.status == "outside_intended_use" and row.flagged, path.name
        assert words in row.message
        assert w.results.index(i, status_col).data() == "outside intended use"
        assert "outside intended use" in w.results.index(i, finding_col).data()
    assert w.results.row_at(w.results.row_of(str(child))).status != "outside_intended_use"
    with AuditLog(w.review_db) as audit:
        events = {Path(e.path).name: e for e in audit.all() if e.action == "classify"}
    for path, words in files.items():
        assert events[path.name].decision == "outside_intended_use"
        assert words in events[path.name].note
    w.close()
