"""Issue 23, reproductions 6 and 7: a multi-frame file says that only its first frame was
judged (CSV, audit, window), and the CSV of ``classify`` is never ambiguous (two different
names, two different paths) and carries the model's verification state."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop import cli
from pneumonia_core.pipeline import frame_note
from tests.conftest import synthetic_xray
from tests.reliability.builders import dicom_bytes

pytestmark = pytest.mark.usefixtures("home")


def frames_of(n: int) -> list[np.ndarray]:
    return [synthetic_xray(300 + i, pneumonia=i == 0) for i in range(n)]


def write_container(kind: str, folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    images = frames_of(n)
    if kind == "dicom":
        path = folder / "multi.dcm"
        path.write_bytes(dicom_bytes(np.stack(images), frames=n))
        return path
    path = folder / ("multi.png" if kind == "apng" else "multi.tiff")
    first, *rest = [Image.fromarray(a) for a in images]
    first.save(path, format="PNG" if kind == "apng" else "TIFF", save_all=True,
               append_images=rest)
    return path


def classify(args: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(args, stdout=out, stderr=err)
    return code, err.getvalue()


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("kind", ["dicom", "apng", "tiff"])
def test_multi_frame_file_says_frame_1_of_n_in_the_csv(kind: str, tmp_path: Path) -> None:
    path = write_container(kind, tmp_path / "in")
    out = tmp_path / "o.csv"
    code, err = classify(["classify", str(path), "--csv", str(out)])
    assert code in (0, 3), err
    (row,) = rows(out)
    assert "frame 1 of 3 judged" in row["message"], row
    if row["status"] == "ok":
        assert row["message"].startswith("P(pneumonia)")  # the decision's reason is kept
    # a single-frame file says nothing of frames
    single = tmp_path / "single.png"
    Image.fromarray(frames_of(1)[0]).save(single)
    classify(["classify", str(single), "--csv", str(out)])
    assert "frame" not in rows(out)[0]["message"]


def test_multi_frame_note_in_the_audit_and_the_window(tmp_path: Path, qtbot) -> None:  # noqa: ANN001
    from desktop.audit import AuditLog
    from desktop.jobs import ResultRow, classified, classify_job
    from desktop.qt.panels import ResultPanel
    from pneumonia_core.model import ModelBundle
    from tests.conftest import MODEL_DIR

    path = write_container("tiff", tmp_path / "in", 4)
    bundle = ModelBundle.load(MODEL_DIR)
    db = tmp_path / "data.sqlite3"
    events = list(classified(classify_job([path], bundle, 0.5, db)))
    (event,) = events
    with AuditLog(db) as log:
        (audited,) = [e for e in log.all() if e.action == "classify"]
    assert "frame 1 of 4 judged" in audited.note
    row = event.row
    assert isinstance(row, ResultRow) and "frame 1 of 4" in row.message
    panel = ResultPanel()
    qtbot.addWidget(panel)
    panel.show_row(row, bundle.operating_point)
    assert "frame 1 of 4 judged" in panel.message_label.text()
    assert frame_note(1) == ""


@pytest.mark.skipif(os.name == "nt", reason="Windows file names cannot hold a carriage return")
def test_cr_in_a_name_and_a_literal_backslash_r_give_different_csv_paths(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    img = Image.fromarray(frames_of(1)[0])
    img.save(folder / "a\rb.png")
    img.save(folder / "a\\rb.png")
    out = tmp_path / "o.csv"
    classify(["classify", str(folder), "--csv", str(out)])
    names = sorted(Path(r["path"]).name for r in rows(out))
    assert names == ["a\\\\rb.png", "a\\rb.png"]  # literal backslash doubled; CR escaped
    assert len(set(names)) == 2
    assert b"\r" not in out.read_bytes()


def test_csv_says_verified_for_the_pinned_model(tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    Image.fromarray(frames_of(1)[0]).save(img)
    out = tmp_path / "o.csv"
    code, err = classify(["classify", str(img), "--csv", str(out)])
    assert code in (0, 3) and code != cli.EXIT_UNVERIFIED
    assert [r["model"] for r in rows(out)] == ["verified"]
