"""Intended-use tags end to end through ``classify`` (issue 21): each tag that puts a DICOM
chest film outside the intended use gives the status ``outside_intended_use`` with its reason
in the CSV, the summary line and the run's audit event, never a silent normal result."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from bench.dicom_films import write_dx_dicom
from desktop import cli
from pneumonia_core.imageio import load_image

#: (tag, value, words in the message): one case per intended-use tag and kind.
CASES = [
    ("PatientAge", "045Y", "patient age 45 years"),
    ("PatientAge", "067Y", "patient age 67 years"),
    ("ViewPosition", "LLAT", "view position LLAT"),
    ("ViewPosition", "LATERAL_DECUBITUS", "view position LATERAL_DECUBITUS"),
    ("ViewPosition", "LL", "view position LL"),
    ("ViewPosition", "RLD", "view position RLD"),
]


def film_dicom(path: Path, images: list[Path], **tags: str) -> Path:
    """A real film (or a generated one) as a 12-bit DX DICOM with the given tags."""
    stored = load_image(images[0], 256).astype(np.uint16) * 16
    return write_dx_dicom(path, stored, "MONOCHROME2", 12, **tags)


def run_classify(files: list[Path], out: Path) -> tuple[int, list[dict[str, str]], str]:
    import io

    err = io.StringIO()
    code = cli.main(["classify", *map(str, files), "--csv", str(out)], stdout=io.StringIO(),
                    stderr=err)
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return code, rows, err.getvalue()


@pytest.mark.usefixtures("home")
@pytest.mark.parametrize("tag, value, words", CASES)
def test_classify_marks_each_intended_use_tag(tmp_path: Path, full_res_images: list[Path],
                                              tag: str, value: str, words: str) -> None:
    outside = film_dicom(tmp_path / "in" / "outside.dcm", full_res_images, **{tag: value})
    child = film_dicom(tmp_path / "in" / "child.dcm", full_res_images, PatientAge="004Y",
                       ViewPosition="AP")
    code, rows, err = run_classify([outside, child], tmp_path / "out.csv")
    by_name = {Path(r["path"]).name: r for r in rows}
    row = by_name["outside.dcm"]
    assert row["status"] == "outside_intended_use", row
    assert words in row["message"] and "Not scored" in row["message"]
    assert row["probability"] == "" and row["prediction"] == "" and row["flagged"] == "1"
    # the same pixels with pediatric frontal tags are read as usual
    assert by_name["child.dcm"]["status"] != "outside_intended_use"
    assert "1 outside the intended use (not scored)" in err
    assert code == cli.EXIT_INCOMPLETE
    from desktop import paths
    from desktop.audit import AuditLog

    with AuditLog(paths.review_db_path()) as audit:
        run = [e for e in audit.all() if e.action == "run:classify"][-1]
    assert "1 outside_intended_use" in run.note
