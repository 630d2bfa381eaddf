"""The window's flagged-list export (issue 25): it carries each film's DICOM identifiers
(empty for other files), and its dialog never opens in the image folder."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QFileDialog

from bench.dicom_films import write_dx_dicom
from desktop import identifiers
from desktop.qt import export_paths
from tests.conftest import synthetic_xray
from tests.desktop.qt.app_helpers import new_window
from tests.desktop.test_cli_exports import IDS

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def _films(folder: Path) -> tuple[Path, Path]:
    """A DICOM film with identifiers and a PNG, both made to be flagged (pneumonia-like)."""
    pixels = synthetic_xray(1, pneumonia=True)
    film = write_dx_dicom(folder / "film.dcm", pixels.astype(np.uint16) * 16, "MONOCHROME2",
                          12, **IDS)
    png = folder / "film.png"
    Image.fromarray(synthetic_xray(5, pneumonia=True)).save(png)
    return film, png


def test_the_flagged_export_carries_the_dicom_identifiers(qtbot, tmp_path: Path) -> None:
    film, png = _films(tmp_path / "in")
    w = new_window(qtbot, [tmp_path / "in"])
    w.apply_threshold(0.01)  # both flagged, whatever the model says of generated films
    qtbot.waitUntil(lambda: w.flagged.model.rowCount() == 2, timeout=20_000)
    out = tmp_path / "flagged.csv"
    assert w.export_flagged(out) == 2
    with open(out, newline="", encoding="utf-8") as fh:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(fh)}
    assert {k: rows["film.dcm"][k] for k in identifiers.COLUMNS} == IDS
    assert all(rows["film.png"][k] == "" for k in identifiers.COLUMNS)


def test_the_export_dialog_opens_in_documents_not_the_image_folder(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images, docs = tmp_path / "images", tmp_path / "Documents"
    images.mkdir()
    docs.mkdir()
    monkeypatch.setattr(export_paths, "documents_folder", lambda: str(docs))
    w = new_window(qtbot)
    w.settings.last_folder = str(images)  # the folder of the films just read
    asked: list[str] = []

    def fake(parent, caption, directory, filt):  # noqa: ANN001
        asked.append(directory)
        return "", filt  # cancelled

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))
    w.export_flagged_dialog()
    assert Path(asked[-1]).parent == docs
    w.settings.last_export_folder = str(tmp_path / "gone")  # an export folder since removed
    w.export_flagged_dialog()
    assert Path(asked[-1]).parent == docs
