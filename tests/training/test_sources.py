"""Labelled sources: a CSV of path,label[,patient] (patient-grouped validation), DICOM films
through the app's loader, clear errors for bad rows."""

from __future__ import annotations

import json
import logging
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.dicom_films import write_dx_dicom
from pneumonia_core.imageio import load_image
from tests.conftest import synthetic_xray
from training import data as D
from training.sources import read_source


def _film(i: int, pneumonia: bool) -> np.ndarray:
    return synthetic_xray(zlib.crc32(f"csv/{i}".encode()), size=(160, 128), pneumonia=pneumonia)


def _csv_set(root: Path, n: int = 24) -> Path:
    """Half PNG, half DICOM, file names that say nothing of the patient; 2 films a patient."""
    rows = ["path,label,patient"]
    for i in range(n):
        pneumonia = i % 2 == 1
        pixels = _film(i, pneumonia)
        if i % 4 < 2:
            rel = f"films/{i:03d}.png"
            (root / "films").mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / rel)
        else:
            rel = f"dicom/{i:03d}.dcm"
            write_dx_dicom(root / rel, pixels)
        rows.append(f"{rel},{'PNEUMONIA' if pneumonia else 'normal'},P{i // 4}-{int(pneumonia)}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


def test_csv_source_reads_paths_labels_and_patients(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    csv_path = _csv_set(tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
    Image.fromarray(_film(99, False)).save(outside)
    with open(csv_path, "a") as fh:
        fh.write(f"{outside},0,\n")  # absolute, no patient: its own
        fh.write("films/missing.png,1,P9\n")
        fh.write("films/000.png,maybe,P9\n")
        fh.write("films/000.png,0,P0-0\n")  # listed twice
    with caplog.at_level(logging.WARNING):
        root, samples = read_source(csv_path)
    assert root == tmp_path.resolve() and len(samples) == 25
    msg = caplog.text
    assert "3 row(s) left out" in msg and "line 27: no such file films/missing.png" in msg
    assert "line 28: label 'maybe'" in msg and "line 29: films/000.png listed again" in msg
    by_rel = {s.rel: s for s in samples}
    assert by_rel["films/000.png"].label == 0 and by_rel["films/001.png"].label == 1
    assert by_rel["films/000.png"].patient == by_rel["dicom/002.dcm"].patient == "csv:P0-0"
    assert by_rel["films/001.png"].patient == by_rel["dicom/003.dcm"].patient == "csv:P0-1"
    assert by_rel[outside.resolve().as_posix()].patient == "file:" + outside.stem
    # the split keeps every patient of the CSV on one side
    for seed in range(4):
        train, val = D.grouped_split(samples, 0.3, seed)
        assert train and val and not {s.patient for s in train} & {s.patient for s in val}


def test_csv_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("file,class\na.png,0\n")
    with pytest.raises(ValueError, match="path and label"):
        read_source(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("path,label\nnope.png,1\n")
    with pytest.raises(ValueError, match="no usable rows"):
        read_source(empty)
    with pytest.raises(ValueError, match="not a .csv"):
        read_source(Path(__file__))
    with pytest.raises(FileNotFoundError, match="training data not found"):
        read_source(tmp_path / "nowhere")


def test_dicom_films_feed_the_same_pixels_as_the_app(tmp_path: Path) -> None:
    """DICOM films (8 and 12 bit) reach the network as the app's loader prepares them."""
    from training.stream import Films, predict_dataset

    pixels = _film(5, True)
    dcm8 = write_dx_dicom(tmp_path / "a.dcm", pixels)
    dcm12 = write_dx_dicom(tmp_path / "b.dcm", pixels.astype(np.uint16) * 16)
    got = np.concatenate([np.asarray(b) for b in predict_dataset(Films([dcm8, dcm12], 64))])
    for i, f in enumerate((dcm8, dcm12)):
        expected = load_image(f, 64)
        assert expected.std() > 10  # a film, not a blank
        np.testing.assert_array_equal(got[i, ..., 0], expected)


@pytest.mark.slow
def test_training_from_a_csv_of_dicom_and_png(tmp_path: Path) -> None:
    from tests.training.training_helpers import tiny_train_args
    from training.cli import main

    csv_path = _csv_set(tmp_path / "data", n=32)
    out = tmp_path / "run"
    assert main(tiny_train_args(csv_path, out, tmp_path / "cache", "--input", "stream")) == 0
    split = json.loads((out / "split.json").read_text())
    assert Path(split["data_root"]) == csv_path.parent.resolve()
    patients = {line.split(",")[0]: line.split(",")[2]
                for line in csv_path.read_text().splitlines()[1:]}
    train_p = {patients[e["path"]] for e in split["train"]}
    val_p = {patients[e["path"]] for e in split["val"]}
    assert val_p and not train_p & val_p
    assert any(e["path"].endswith(".dcm") for e in split["train"] + split["val"])
    assert (out / "report.json").is_file()
