"""``pneumonia-xray calibrate`` end to end with the shipped model: the profile and plots it
writes, its guard rails (nothing written), and the profile's use by ``classify``."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop import calibrate
from pneumonia_core import site_profile as sp
from pneumonia_core.metadata import ModelMetadata
from tests.conftest import MODEL_DIR, SHARED_DATA, synthetic_xray

pytestmark = pytest.mark.usefixtures("home")


def generated_films(root: Path, n: int = 60) -> Path:
    """A labelled tree of generated films. They carry no real disease signal; the shipped
    model happens to score the generated 'pneumonia' patch LOWER, so that variant goes into
    NORMAL/: the model then ranks the classes better than chance, which is all the checks of
    bookkeeping (profile vs recomputation) need. Real films are used when present."""
    for label, patch in (("NORMAL", True), ("PNEUMONIA", False)):
        d = root / label
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = synthetic_xray(7000 + 100 * patch + i, pneumonia=patch)
            Image.fromarray(arr).save(d / f"{label.lower()}_{i:03d}.jpeg", quality=90)
    return root


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_public (314 labelled films of the test distribution), else generated films."""
    real = SHARED_DATA / "test_public"
    if (real / "NORMAL").is_dir() and (real / "PNEUMONIA").is_dir():
        return real
    return generated_films(tmp_path_factory.mktemp("site_films"))


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = calibrate.main([*args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def calibrated(films: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("profile") / "site_profile.json"
    code, stdout, stderr = run(str(films), "--out", str(out))
    assert code == 0, stderr
    return {"path": out, "stdout": stdout, "stderr": stderr,
            "profile": sp.load_profile(out, ModelMetadata.load(MODEL_DIR).sha256)}


def test_calibrate_writes_a_verified_profile_and_plots(calibrated: dict) -> None:
    out: Path = calibrated["path"]
    prof: sp.SiteProfile = calibrated["profile"]
    meta = ModelMetadata.load(MODEL_DIR)
    assert prof.model_sha256 == meta.sha256
    assert prof.data["tool_version"] and prof.data["created"].endswith("Z")
    assert prof.data["calibration"]["method"] in ("temperature", "logistic")
    assert prof.after["sensitivity"]["value"] >= prof.data["threshold"]["target_sensitivity"]
    for png in calibrate.plot_paths(out):
        img = Image.open(png)
        assert img.format == "PNG" and img.size[0] >= 600
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        [out.name, *(p.name for p in calibrate.plot_paths(out))])  # no temporaries left
    # the table: before / after / cross-validated, with intervals
    text = calibrated["stdout"]
    for needle in ("model default", "site profile", "cross-val", "sensitivity [95% CI]",
                   "ROC AUC", "ECE", "Brier", "TP / FN"):
        assert needle in text
    # progress lines although stderr is not a terminal
    n = prof.n_films + len(prof.data["films"]["excluded"])
    assert f"classified {n}/{n}" in calibrated["stderr"]


def test_no_absolute_paths_in_the_profile(calibrated: dict, films: Path) -> None:
    text = calibrated["path"].read_text()
    assert str(films.resolve()) not in text and "/work/" not in text


def test_existing_profile_is_kept_without_force(calibrated: dict, films: Path) -> None:
    before = calibrated["path"].read_bytes()
    code, _out, err = run(str(films), "--out", str(calibrated["path"]))
    assert code == calibrate.EXIT_USAGE and "--force" in err
    assert calibrated["path"].read_bytes() == before


def test_dry_run_writes_nothing(films: Path, tmp_path: Path) -> None:
    code, out, _err = run(str(films), "--out", str(tmp_path / "p.json"), "--dry-run")
    assert code == 0 and "dry run: nothing written" in out and "sensitivity" in out
    assert list(tmp_path.iterdir()) == []


def _write_guard_case(root: Path, n_normal: int, n_pneu: int) -> Path:
    generated_films(root, n=max(n_normal, n_pneu))
    for label, keep in (("NORMAL", n_normal), ("PNEUMONIA", n_pneu)):
        for p in sorted((root / label).iterdir())[keep:]:
            p.unlink()
    return root


@pytest.mark.parametrize(("n_normal", "n_pneu", "needle"), [
    (20, 60, "too few films: 20 NORMAL"),
    (60, 0, "only one class"),
])
def test_guard_rails_write_nothing(tmp_path: Path, n_normal: int, n_pneu: int,
                                   needle: str) -> None:
    src = _write_guard_case(tmp_path / "in", n_normal, n_pneu)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _out, err = run(str(src), "--out", str(out_dir / "p.json"))
    assert code == calibrate.EXIT_REFUSED and needle in err and "Nothing was written" in err
    assert list(out_dir.iterdir()) == []


def test_inverted_labels_are_refused(films: Path, tmp_path: Path) -> None:
    rows = [(str(p), "PNEUMONIA" if p.parent.name == "NORMAL" else "NORMAL")
            for p in sorted(films.rglob("*.jpeg"))]
    table = tmp_path / "swapped.csv"
    with open(table, "w", newline="") as fh:
        csv.writer(fh).writerows([("path", "label"), *rows])
    code, _out, err = run(str(table), "--out", str(tmp_path / "p.json"))
    assert code == calibrate.EXIT_REFUSED and "swapped" in err
    assert not (tmp_path / "p.json").exists()


def test_same_file_under_both_labels_is_refused(tmp_path: Path) -> None:
    src = generated_films(tmp_path / "in")
    shutil.copy(src / "NORMAL" / "normal_000.jpeg", src / "PNEUMONIA" / "copy.jpeg")
    code, _out, err = run(str(src), "--out", str(tmp_path / "p.json"))
    assert code == calibrate.EXIT_REFUSED and "under both labels" in err
    assert not (tmp_path / "p.json").exists()


def test_duplicates_errors_and_unlabelled_files_are_left_out_and_listed(tmp_path: Path) -> None:
    src = generated_films(tmp_path / "in")
    shutil.copy(src / "NORMAL" / "normal_001.jpeg", src / "NORMAL" / "zz_again.jpeg")
    (src / "PNEUMONIA" / "deep").mkdir()
    (src / "PNEUMONIA" / "deep" / "broken.jpeg").write_bytes(b"\xff\xd8\xff not a jpeg")
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(src / "unlabelled.png")
    out = tmp_path / "p.json"
    code, _stdout, err = run(str(src), "--out", str(out), "--dry-run")
    assert "ignored" in err and "unlabelled.png" in err
    assert "1 duplicate" in err and "again.jpeg" in err and "broken.jpeg" in err
    # --dry-run: same fit, nothing written; the full run lists the same exclusions
    assert code == 0 and not out.exists()
    assert run(str(src), "--out", str(out))[0] == 0
    excluded = {e["path"]: e["reason"] for e in json.loads(out.read_text())["films"]["excluded"]}
    assert excluded["NORMAL/zz_again.jpeg"] == ("duplicate: same content (SHA-256) as "
                                                "NORMAL/normal_001.jpeg")
    assert excluded["PNEUMONIA/deep/broken.jpeg"].startswith("error")


def test_csv_input_matches_the_folder(films: Path, calibrated: dict, tmp_path: Path) -> None:
    table = tmp_path / "films.csv"
    with open(table, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("path", "label"))
        for p in sorted(films.rglob("*.jpeg")):
            w.writerow((str(p), p.parent.name.lower()))
    code, out, _err = run(str(table), "--out", str(tmp_path / "p.json"), "--dry-run")
    assert code == 0
    prof = calibrated["profile"]
    assert f"threshold {prof.threshold:.4f}" in out
