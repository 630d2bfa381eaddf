"""Data reading, the patient-grouped split (no leakage) and loader parity."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pneumonia_core.imageio import load_image
from training import data as D
from training.config import get_preset
from training.train import prepare_split


@pytest.mark.parametrize(("name", "patient"), [
    ("person1000_bacteria_2931.jpeg", "person1000"),
    ("person1000_virus_1681.jpeg", "person1000"),
    ("IM-0115-0001.jpeg", "IM-0115"),
    ("NORMAL2-IM-0115-0001.jpeg", "NORMAL2-IM-0115"),
    ("scan.png", "file:scan"),
])
def test_patient_id(name: str, patient: str) -> None:
    assert D.patient_id(name) == patient


def _assert_no_leak(train: list[D.Sample], val: list[D.Sample]) -> None:
    assert train and val
    assert not {s.patient for s in train} & {s.patient for s in val}
    assert not {D.file_sha256(s.path) for s in train} & {D.file_sha256(s.path) for s in val}
    assert not {s.rel for s in train} & {s.rel for s in val}


def test_split_keeps_duplicates_and_patients_on_one_side(tmp_path: Path, small_data_root: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(small_data_root / "train", root / "train")
    # byte-identical copies under other patient ids, so only the hash links them
    src = sorted((root / "train" / "NORMAL").glob("*.jpeg"))
    for i, p in enumerate(src[:6]):
        shutil.copy(p, root / "train" / "NORMAL" / f"IM-{900 + i:04d}-0001.jpeg")
    samples = D.scan_split(root, "train")
    for seed in range(5):
        train, val = D.grouped_split(samples, 0.3, seed)
        _assert_no_leak(train, val)
        assert len(train) + len(val) == len(samples)
        assert {s.label for s in val} == {0, 1}  # stratified: both classes in val


def test_split_is_seeded_and_stratified_on_real_train(data_root: Path) -> None:
    """On the real train/ folder when present (file names and hashes only: cheap)."""
    cfg = get_preset("default")
    a = prepare_split(data_root, cfg)
    _assert_no_leak(a.train, a.val)
    b = prepare_split(data_root, cfg)
    assert [s.rel for s in a.val] == [s.rel for s in b.val]
    c = prepare_split(data_root, cfg.with_overrides(seed=cfg.seed + 1))
    assert [s.rel for s in a.val] != [s.rel for s in c.val]
    n = len(a.train) + len(a.val)
    assert abs(len(a.val) / n - cfg.val_fraction) < 0.05
    pos_all = (sum(s.label for s in a.train) + sum(s.label for s in a.val)) / n
    pos_val = sum(s.label for s in a.val) / len(a.val)
    assert abs(pos_val - pos_all) < 0.05


def test_limit_is_stratified_and_bounded(data_root: Path) -> None:
    cfg = get_preset("default").with_overrides(limit=60)
    prep = prepare_split(data_root, cfg)
    total = len(prep.train) + len(prep.val)
    assert 40 <= total <= 60
    _assert_no_leak(prep.train, prep.val)


def test_fingerprint_changes_with_the_file_list(small_data_root: Path) -> None:
    samples = D.scan_split(small_data_root, "train")
    assert D.fingerprint(samples) == D.fingerprint(list(reversed(samples)))
    assert D.fingerprint(samples) != D.fingerprint(samples[1:])


def test_loader_parity_training_arrays_equal_load_image(tmp_path: Path, data_root: Path,
                                                        full_res_images: list[Path]) -> None:
    """The array training feeds for a file is exactly what the app's loader gives,
    for a 224 px training image and a full-resolution image, cached or not."""
    train_files = [s.path for s in D.scan_split(data_root, "train")[:3]]
    files = train_files + full_res_images[:2]
    for size in (224, 150):
        fresh = D.load_arrays(files, size, cache_dir=tmp_path)
        cached = D.load_arrays(files, size, cache_dir=tmp_path)  # second call reads the cache
        assert list(tmp_path.glob(f"images_{size}_*.npy"))
        for i, f in enumerate(files):
            expected = load_image(f, size)
            assert fresh[i].dtype == np.uint8 and fresh[i].shape == (size, size)
            np.testing.assert_array_equal(fresh[i], expected)
            np.testing.assert_array_equal(cached[i], expected)


def test_missing_train_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train"):
        D.scan_split(tmp_path, "train")
