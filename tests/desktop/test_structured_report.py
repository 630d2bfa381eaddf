"""``classify --sr-dir``: a DICOM Structured Report of each DICOM film's result that a PACS
can store (issue 25, desktop/structured_report.py; highdicom is the optional extra ``sr``,
installed with ``dev``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from bench.dicom_films import write_dx_dicom
from desktop import cli, structured_report
from pneumonia_core.metadata import ModelMetadata
from pneumonia_core.model import default_model_dir
from tests.conftest import synthetic_xray
from tests.desktop.test_batch import read_csv, run, write_xrays
from tests.desktop.test_cli_exports import IDS

pytestmark = pytest.mark.usefixtures("home")

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"


def _items(ds) -> dict[str, object]:  # noqa: ANN001
    """Content items by concept meaning: text, number or referenced image."""
    out: dict[str, object] = {}
    for item in ds.ContentSequence:
        name = item.ConceptNameCodeSequence[0].CodeMeaning
        if item.ValueType == "TEXT":
            out[name] = str(item.TextValue)
        elif item.ValueType == "NUM":
            out[name] = float(item.MeasuredValueSequence[0].NumericValue)
        elif item.ValueType == "IMAGE":
            out[name] = str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
    return out


def _inputs(folder: Path) -> tuple[Path, Path, Path]:
    film = write_dx_dicom(folder / "film.dcm", synthetic_xray(1, pneumonia=True)
                          .astype(np.uint16) * 16, "MONOCHROME2", 12, PatientName="Test^Film",
                          **IDS)
    ct = write_dx_dicom(folder / "ct.dcm", synthetic_xray(2).astype(np.uint16) * 16,
                        "MONOCHROME2", 12, Modality="CT",
                        SOPInstanceUID="1.2.826.0.1.3680043.8.498.9",
                        StudyInstanceUID="1.2.826.0.1.3680043.8.498.7",
                        SeriesInstanceUID="1.2.826.0.1.3680043.8.498.8")
    png = write_xrays(folder, [3])[0]
    return film, ct, png


def test_an_sr_per_dicom_result_that_pydicom_reads_back(tmp_path: Path, home: Path) -> None:
    film, ct, png = _inputs(tmp_path / "in")
    out, srs = tmp_path / "out.csv", tmp_path / "sr"
    code, _, err = run(["classify", str(film), str(ct), str(png), "--csv", str(out),
                        "--sr-dir", str(srs), "--threshold", "0.05"])
    assert code == cli.EXIT_INCOMPLETE, err  # the CT is out of scope
    _, rows = read_csv(out)
    row = {Path(r["path"]).name: r for r in rows}["film.dcm"]
    assert row["status"] == "ok" and row["flagged"] == "1"
    files = sorted(p.name for p in srs.iterdir())
    assert files == [f"SR_{IDS['SOPInstanceUID']}.dcm", "SR_1.2.826.0.1.3680043.8.498.9.dcm"]
    assert "2 DICOM structured report(s)" in err

    ds = pydicom.dcmread(srs / files[0])
    assert ds.SOPClassUID == COMPREHENSIVE_SR and ds.Modality == "SR"
    assert ds.PatientID == IDS["PatientID"] and ds.StudyInstanceUID == IDS["StudyInstanceUID"]
    assert ds.AccessionNumber == IDS["AccessionNumber"]
    assert ds.PreliminaryFlag == "PRELIMINARY" and ds.VerificationFlag == "UNVERIFIED"
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == IDS["SOPInstanceUID"]
    items = _items(ds)
    meta = ModelMetadata.load(default_model_dir())
    assert items["Source of Measurement"] == IDS["SOPInstanceUID"]
    assert items["Finding"].startswith("PNEUMONIA: flagged for review")
    assert items["Probability of pneumonia"] == pytest.approx(float(row["probability"]),
                                                              abs=5e-5)
    assert items["Decision threshold"] == pytest.approx(0.05)
    assert items["Algorithm Name"] == meta.name and items["Algorithm Version"] == meta.version
    assert items["Model SHA-256"] == meta.sha256
    assert items["Comment"].startswith("Triage aid, not a diagnosis.")

    ct_items = _items(pydicom.dcmread(srs / files[1]))
    assert ct_items["Finding"].startswith("Not scored by the model (out of scope)")
    assert "Probability of pneumonia" not in ct_items

    logged = "".join(p.read_text(encoding="utf-8") for p in home.rglob("*.log"))
    assert "loaded model" in logged  # the log file that is checked is the run's
    assert not [v for v in IDS.values() if v in logged]  # identifiers are never logged

    # the same result sent again is the same object (same UIDs), not a second one
    run(["classify", str(film), "--csv", str(out), "--sr-dir", str(srs), "--threshold",
         "0.05"])
    again = pydicom.dcmread(srs / files[0])
    assert again.SOPInstanceUID == ds.SOPInstanceUID and len(list(srs.iterdir())) == 2


def test_an_sr_folder_inside_the_inputs_is_refused(tmp_path: Path) -> None:
    film, _ct, _png = _inputs(tmp_path / "in")
    out = tmp_path / "out.csv"
    code, _, err = run(["classify", str(tmp_path / "in"), "--csv", str(out), "--sr-dir",
                        str(tmp_path / "in" / "sr")])
    assert code == cli.EXIT_USAGE and "inside the input folder" in err
    assert not out.exists() and not (tmp_path / "in" / "sr").exists()


def test_without_highdicom_sr_dir_says_how_to_get_it(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structured_report, "available", lambda: False)
    film, _ct, _png = _inputs(tmp_path / "in")
    out = tmp_path / "out.csv"
    code, _, err = run(["classify", str(film), "--csv", str(out), "--sr-dir",
                        str(tmp_path / "sr")])
    assert code == cli.EXIT_USAGE
    assert "pneumonia-xray[sr]" in err and "Nothing was written" in err and not out.exists()


def test_a_film_that_cannot_have_an_sr_is_named_and_the_rest_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    film, _ct, _png = _inputs(tmp_path / "in")
    bare = write_dx_dicom(tmp_path / "in2" / "bare.dcm", synthetic_xray(4).astype(np.uint16)
                          * 16, "MONOCHROME2", 12)  # no Study/Series Instance UID
    out, srs = tmp_path / "out.csv", tmp_path / "sr"
    code, _, err = run(["classify", str(bare), str(film), "--csv", str(out), "--sr-dir",
                        str(srs)])
    assert code == cli.EXIT_INCOMPLETE
    assert len(read_csv(out)[1]) == 2
    assert [p.name for p in srs.iterdir()] == [f"SR_{IDS['SOPInstanceUID']}.dcm"]
    assert ("no DICOM SR for bare.dcm: the film lacks StudyInstanceUID, SeriesInstanceUID"
            in caplog.text)
    assert "1 DICOM structured report(s)" in err and "1 could not be written" in err
