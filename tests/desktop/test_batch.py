"""The headless batch command: CSV content, exit codes, threshold, model integrity, safety."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop import cli
from pneumonia_core.files import iter_image_files
from pneumonia_core.imageio import load_image
from pneumonia_core.metadata import ModelMetadata
from pneumonia_core.model import ModelBundle
from tests.conftest import ROOT, synthetic_xray

HEADER = ["path", "status", "probability", "prediction", "flagged", "message", "model",
          "PatientID", "AccessionNumber", "StudyDate", "StudyInstanceUID", "SeriesInstanceUID",
          "SOPInstanceUID"]


def write_xrays(folder: Path, seeds: list[int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in seeds:
        p = folder / f"xray_{seed:02d}.png"
        Image.fromarray(synthetic_xray(seed, pneumonia=seed % 2 == 1)).save(p)
        paths.append(p)
    return paths


def colour_photo(path: Path) -> Path:
    """A saturated, photo-like colour picture: out of scope for a chest X-ray model."""
    yy, xx = np.mgrid[0:240, 0:320]
    rgb = np.stack([(xx * 0.8) % 256, (yy * 1.1) % 256, ((xx + yy) * 0.5) % 256], axis=-1)
    Image.fromarray(rgb.astype(np.uint8)).save(path, quality=90)
    return path


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Three X-rays (one in a subfolder), a colour photo, a broken file and a hidden file."""
    root = tmp_path / "in"
    write_xrays(root, [1, 2])
    write_xrays(root / "sub", [3])
    colour_photo(root / "photo.jpg")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (root / ".hidden.png").write_bytes(b"not looked at")
    return root


def run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [dict(zip(header, r, strict=True)) for r in reader]
    return header, rows


def test_csv_has_exact_header_and_one_row_per_input(mixed_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    code, _, err = run(["classify", str(mixed_folder), "--csv", str(out)])
    assert code == cli.EXIT_INCOMPLETE
    header, rows = read_csv(out)
    assert header == HEADER
    by_name = {Path(r["path"]).name: r for r in rows}
    assert sorted(by_name) == ["broken.png", "photo.jpg", "xray_01.png", "xray_02.png", "xray_03.png"]
    assert [r["path"] for r in rows] == list(iter_image_files([mixed_folder]))  # input order
    assert any(r["path"].endswith("sub/xray_03.png") for r in rows)  # recursive
    broken, photo = by_name["broken.png"], by_name["photo.jpg"]
    assert broken["status"] == "error" and photo["status"] == "out_of_scope"
    for row in (broken, photo):
        assert row["probability"] == "" and row["prediction"] == ""
        assert row["flagged"] == "1" and row["message"]
    assert "olour" in photo["message"]
    for name in ("xray_01.png", "xray_02.png", "xray_03.png"):
        row = by_name[name]
        assert row["status"] == "ok", row
        assert re.fullmatch(r"0\.\d{4}|1\.0000", row["probability"])
        assert row["prediction"] in ("PNEUMONIA", "NORMAL")
        assert row["flagged"] == ("1" if row["prediction"] == "PNEUMONIA" else "0")
    # not a terminal: only the final summary on stderr
    lines = [ln for ln in err.splitlines() if ln.startswith("classified")]
    assert len(lines) == 1 and "5 file(s)" in lines[0] and "1 error, 1 out of scope" in lines[0]


def test_probabilities_equal_model_prediction_with_calibration(tmp_path: Path,
                                                               model_dir: Path) -> None:
    images = write_xrays(tmp_path / "in", [4, 5, 6, 7])
    out = tmp_path / "out.csv"
    code, _, _ = run(["classify", str(tmp_path / "in"), "--csv", str(out)])
    assert code == cli.EXIT_OK
    bundle = ModelBundle.load(model_dir)
    meta = ModelMetadata.load(model_dir)
    _, rows = read_csv(out)
    assert [Path(r["path"]) for r in rows] == images
    for row, path in zip(rows, images, strict=True):
        pred = bundle.predict(load_image(path, meta.input.size))
        expected = meta.probability(pred.logit)  # calibration from metadata.json
        assert row["probability"] == f"{expected:.4f}"
        label = meta.labels[1] if expected >= meta.threshold_value else meta.labels[0]
        assert row["prediction"] == label


def test_threshold_override_splits_consistently(tmp_path: Path, model_dir: Path) -> None:
    images = write_xrays(tmp_path / "in", list(range(10, 18)))
    bundle = ModelBundle.load(model_dir)
    probs = sorted(bundle.predict(load_image(p, bundle.input_size)).probability for p in images)
    distinct = sorted(set(probs))
    if len(distinct) >= 2:
        i = len(distinct) // 2
        threshold = (distinct[i - 1] + distinct[i]) / 2
    else:
        threshold = min(max(distinct[0] - 1e-6, 1e-6), 1 - 1e-6)
    out = tmp_path / "out.csv"
    code, _, err = run(["classify", *map(str, images), "--csv", str(out),
                        "--threshold", repr(threshold)])
    assert code == cli.EXIT_OK
    from pneumonia_core.formatting import format_fraction as format_threshold

    assert f"threshold {format_threshold(threshold)}:" in err
    assert "threshold 1.0000" not in err  # a threshold below 1 never reads as 1
    _, rows = read_csv(out)
    for row, path in zip(rows, images, strict=True):
        p = bundle.predict(load_image(path, bundle.input_size)).probability
        assert row["prediction"] == ("PNEUMONIA" if p >= threshold else "NORMAL")
        assert row["flagged"] == ("1" if p >= threshold else "0")
    assert {r["prediction"] for r in rows} == ({"PNEUMONIA", "NORMAL"} if len(distinct) >= 2
                                               else {"PNEUMONIA"})


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.2", "nan", "inf", "abc"])
def test_threshold_outside_open_unit_interval_is_usage_error(tmp_path: Path, value: str,
                                                             capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.csv"
    code, _, _ = run(["classify", str(tmp_path), "--csv", str(out), "--threshold", value])
    assert code == cli.EXIT_USAGE
    assert "threshold" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("args", [["classify"], ["classify", "x.png"], ["--bogus"], []])
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    assert run(args)[0] == cli.EXIT_USAGE


def test_csv_in_missing_folder_is_usage_error(tmp_path: Path) -> None:
    write_xrays(tmp_path / "in", [1])
    code, _, _ = run(["classify", str(tmp_path / "in"), "--csv", str(tmp_path / "no" / "o.csv")])
    assert code == cli.EXIT_USAGE


def tampered_copy(model_dir: Path, dest: Path) -> Path:
    shutil.copytree(model_dir, dest)
    meta = ModelMetadata.load(dest)
    data = bytearray((dest / meta.file).read_bytes())
    data[len(data) // 2] ^= 0x01
    (dest / meta.file).write_bytes(bytes(data))
    return dest


def test_tampered_model_exits_1_and_writes_nothing(tmp_path: Path, model_dir: Path) -> None:
    bad = tampered_copy(model_dir, tmp_path / "model")
    write_xrays(tmp_path / "in", [1])
    out = tmp_path / "out.csv"
    code, _, err = run(["classify", str(tmp_path / "in"), "--csv", str(out),
                        "--model-dir", str(bad)])
    assert code == cli.EXIT_MODEL
    assert "integrity check" in err and "reinstall" in err
    assert not out.exists()


def test_missing_model_exits_1(tmp_path: Path) -> None:
    write_xrays(tmp_path / "in", [1])
    code, _, err = run(["classify", str(tmp_path / "in"), "--csv", str(tmp_path / "o.csv"),
                        "--model-dir", str(tmp_path / "nowhere")])
    assert code == cli.EXIT_MODEL
    assert "metadata not found" in err


def test_existing_csv_survives_a_crash_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_xrays(tmp_path / "in", [1, 2, 3])
    out = tmp_path / "out.csv"
    out.write_text("previous results\n")
    from pneumonia_core import pipeline

    real = pipeline.classify_file
    calls = {"n": 0}

    def crash_on_second(path, bundle, threshold=None, keep_cam=False):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash")
        return real(path, bundle, threshold, keep_cam)

    monkeypatch.setattr(pipeline, "classify_file", crash_on_second)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(["classify", str(tmp_path / "in"), "--csv", str(out), "--workers", "1"])
    assert out.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out.csv"]  # no temp file left

    def interrupt(path, bundle, threshold=None, keep_cam=False):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "classify_file", interrupt)
    code, _, err = run(["classify", str(tmp_path / "in"), "--csv", str(out)])
    assert code == cli.EXIT_INTERRUPTED and "was not written" in err
    assert out.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out.csv"]


def test_two_workers_give_the_same_csv_as_one(mixed_folder: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert run(["classify", str(mixed_folder), "--csv", str(one), "--workers", "1"])[0] == 3
    assert run(["classify", str(mixed_folder), "--csv", str(two), "--workers", "2"])[0] == 3
    assert one.read_text() == two.read_text()


def test_progress_line_on_a_terminal_only() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    progress = cli.Progress(3, tty, interval=0.0)
    for done in (1, 2, 3):
        progress.update(done)
    progress.finish()
    assert re.search(r"\rclassified 3/3 \(\d+/s\)\n$", tty.getvalue())
    quiet = io.StringIO()
    progress = cli.Progress(3, quiet, interval=0.0)
    progress.update(3)
    progress.finish()
    assert quiet.getvalue() == ""


def test_version_names_app_and_model(model_dir: Path) -> None:
    from pneumonia_core import __version__

    meta = ModelMetadata.load(model_dir)
    code, out, _ = run(["--version"])
    assert code == 0
    assert f"pneumonia-xray {__version__}" in out
    assert meta.name in out and meta.version in out and meta.sha256[:12] in out


def test_self_test_ok_prints_one_line(model_dir: Path) -> None:
    meta = ModelMetadata.load(model_dir)
    code, out, err = run(["--self-test"])
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("SELF-TEST OK: ")
    assert f"sha256 {meta.sha256[:12]} verified" in lines[0]
    assert re.search(r"total \d+ ms", lines[0])


def test_self_test_fails_on_tampered_model(tmp_path: Path, model_dir: Path) -> None:
    bad = tampered_copy(model_dir, tmp_path / "model")
    code, out, err = run(["--self-test", "--model-dir", str(bad)])
    assert code == 1 and out == ""
    assert err.startswith("SELF-TEST FAILED: model: ") and "integrity check" in err


def test_self_test_fails_when_dicom_codecs_are_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop import selftest

    def no_codec(img):
        raise RuntimeError("no pixel data encoder for JPEG 2000")

    monkeypatch.setattr(selftest, "_dicom_j2k_bytes", no_codec)
    code, out, err = run(["--self-test"])
    assert code == 1 and out == ""
    assert "DICOM codecs" in err


def jpeg_ls_dicom(path: Path) -> Path:
    """pydicom's JPEG-LS lossless test object (decoded only by pylibjpeg-libjpeg), re-tagged as
    a chest radiograph; the compressed pixel data is kept as it is."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import DigitalXRayImageStorageForPresentation as DX

    src = get_testdata_file("MR_small_jpeg_ls_lossless.dcm", download=False)
    assert src, "pydicom's bundled test data is missing"
    ds = pydicom.dcmread(src)
    ds.Modality, ds.BodyPartExamined = "DX", "CHEST"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = DX
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path)
    return path


def test_compressed_dicom_is_decoded_and_reaches_the_model(tmp_path: Path) -> None:
    from pneumonia_core.imageio import decode_bytes

    dcm = jpeg_ls_dicom(tmp_path / "in" / "film.dcm")
    assert decode_bytes(dcm.read_bytes()).pixels.shape == (64, 64)
    out = tmp_path / "out.csv"
    run(["classify", str(dcm), "--csv", str(out)])
    _, rows = read_csv(out)
    assert rows[0]["status"] in ("ok", "out_of_scope"), rows[0]
    assert "DICOM" not in rows[0]["message"], rows[0]  # past the tag checks: pixels decoded


@pytest.mark.parametrize("args", [["--version"], ["--self-test"], ["classify", "{img}", "--csv", "{out}"]])
def test_headless_paths_import_no_qt_matplotlib_or_tensorflow(args: list[str], tmp_path: Path) -> None:
    img = write_xrays(tmp_path, [1])[0]
    argv = [a.format(img=img, out=tmp_path / "o.csv") for a in args]
    code = (
        "import sys\n"
        "from desktop.__main__ import main\n"
        f"rc = main({argv!r})\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'matplotlib', 'tensorflow', 'keras'))\n"
        "print('BAD', bad)\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "BAD []" in done.stdout
    assert "XNNPACK" not in done.stderr  # LiteRT's per-interpreter banner is kept quiet


def test_quiet_runtime_banner_passes_other_stderr_through() -> None:
    code = (
        "import os, sys\n"
        "from pneumonia_core.runtime import quiet_runtime_banner\n"
        "with quiet_runtime_banner():\n"
        "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "    os.write(2, b'ERROR: something real\\n')\n"
        "    sys.stderr.write('python warning\\n')\n"
        "sys.stderr.write('after\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "ERROR: something real\npython warning\nafter\n"


def test_csv_cells_cannot_become_spreadsheet_formulas() -> None:
    from pneumonia_core.pipeline import Result

    row = cli.csv_row(Result("=HYPERLINK(\"http://x\")", "error", message="@SUM(A1)\nsecond"))
    assert row[0] == "'=HYPERLINK(\"http://x\")"
    assert row[5] == "'@SUM(A1) second" and row[2] == "" and row[4] == "1"


@pytest.mark.parametrize(("args", "headless"), [
    (["classify", "x"], True), (["--version"], True), (["-V"], True), (["--self-test"], True),
    (["--help"], True), (["--model-dir", "m", "--self-test"], True),
    (["--model-dir=m", "classify", "x"], True), ([], False), (["scan.dcm"], False),
    (["folder", "classify"], False), (["--model-dir", "m"], False),
])
def test_entry_point_sends_headless_commands_to_batch(args: list[str], headless: bool) -> None:
    from desktop.__main__ import is_headless

    assert is_headless(args) is headless


def test_model_dir_before_the_command(tmp_path: Path, model_dir: Path) -> None:
    code, out, _ = run(["--model-dir", str(model_dir), "--version"])
    assert code == 0 and ModelMetadata.load(model_dir).name in out
    bad = tampered_copy(model_dir, tmp_path / "model")
    assert run(["--model-dir", str(bad), "--self-test"])[0] == 1
