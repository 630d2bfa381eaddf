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
    """A labelled tree of ``n`` NORMAL and ``n`` PNEUMONIA generated films. They carry no real
    disease signal, so they are labelled by the shipped model's own logit plus noise (a fixed
    seed, 0.3 times the logits' spread): the model then ranks the classes clearly but not
    perfectly, whatever model is shipped, which is all the bookkeeping checks (profile vs
    recomputation) need. Real films are used when present."""
    from pneumonia_core.imageio import load_image
    from pneumonia_core.model import ModelBundle

    bundle = ModelBundle.load(MODEL_DIR)
    pool = root / "pool"
    pool.mkdir(parents=True)
    paths, logits = [], []
    for i in range(2 * n):
        paths.append(pool / f"film_{i:03d}.jpeg")
        Image.fromarray(synthetic_xray(7000 + i, pneumonia=i % 2 == 1)).save(paths[-1], quality=90)
        logits.append(bundle.predict(load_image(paths[-1], bundle.input_size)).logit)
    z = np.asarray(logits)
    noisy = z + np.random.default_rng(0).normal(0.0, 0.3 * (z.std() + 1e-6), len(z))
    order = np.argsort(noisy, kind="stable")
    for label, chosen in (("NORMAL", order[:n]), ("PNEUMONIA", order[n:])):
        (root / label).mkdir()
        for k, i in enumerate(sorted(chosen)):
            paths[i].rename(root / label / f"{label.lower()}_{k:03d}.jpeg")
    pool.rmdir()
    return root


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_public (314 labelled films of the test distribution), else generated films."""
    real = SHARED_DATA / "test_public"
    if (real / "NORMAL").is_dir() and (real / "PNEUMONIA").is_dir():
        return real
    return generated_films(tmp_path_factory.mktemp("site_films"))


#: The sensitivity the test profiles are fitted for. Not the model's own target (0.985): that
#: sits on the command's guard rail for test_public's 194 distinct PNEUMONIA films (refused with
#: pneumonia-cnn 1.2.0, cross-validated sensitivity 0.959 with a 95% interval up to 0.982;
#: accepted with a warning with 1.3.0, 0.969), so the tests would depend on which side a model
#: falls. The refusal itself is tested in tests/core/test_site_profile.py.
TARGET = "0.98"


def run(*args: str) -> tuple[int, str, str]:
    """``pneumonia-xray calibrate ARGS``, with ``--target-sensitivity TARGET`` unless given."""
    out, err = io.StringIO(), io.StringIO()
    if "--target-sensitivity" not in args:
        args = (*args, "--target-sensitivity", TARGET)
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
    for png in sp.plot_paths(out):
        with Image.open(png) as img:
            assert img.format == "PNG" and img.size[0] >= 600
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        [out.name, *(p.name for p in sp.plot_paths(out))])  # no temporaries left
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


# -- the profile in use: classify, precedence, refusal --------------------------------------------
def classify(*args: str) -> tuple[int, str]:
    from desktop import cli

    err = io.StringIO()
    code = cli.main(["classify", *args], stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_profile_report_matches_a_recomputation_from_classify(
        calibrated: dict, films: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Done-criterion of issue 13: calibrate test_public, classify the same folder with the
    profile, recompute the profile's 'after' column from the CSV."""
    from pneumonia_core import metrics

    monkeypatch.setenv("PNEUMONIA_XRAY_SITE_PROFILE", str(calibrated["path"]))
    out = tmp_path / "films.csv"
    code, err = classify(str(films), "--csv", str(out))
    assert code == 0, err
    prof: sp.SiteProfile = calibrated["profile"]
    assert "operating point: site profile, machine-wide" in err and prof.sha256[:12] in err
    rows = read_csv(out)
    assert list(rows[0])[:7] == ["path", "status", "probability", "prediction", "flagged",
                                 "message", "model"]  # then the DICOM identifiers
    left_out = {e["path"] for e in prof.data["films"]["excluded"]}
    kept = [r for r in rows if Path(r["path"]).relative_to(films).as_posix() not in left_out]
    assert len(kept) == prof.n_films
    y = np.array([Path(r["path"]).parent.name == "PNEUMONIA" for r in kept], dtype=int)
    p = np.array([float(r["probability"]) for r in kept])
    positive = np.array([r["prediction"] == "PNEUMONIA" for r in kept])
    after = prof.after
    assert int(np.sum(positive & (y == 1))) == after["tp"]
    assert int(np.sum(~positive & (y == 0))) == after["tn"]
    assert np.all(positive == (np.array([r["flagged"] for r in kept]) == "1"))
    assert metrics.roc_auc(y, p) == pytest.approx(after["roc_auc"]["value"], abs=2e-3)
    assert metrics.expected_calibration_error(y, p, 10) == pytest.approx(after["ece_10"], abs=2e-3)
    assert float(np.mean((p - y) ** 2)) == pytest.approx(after["brier"], abs=1e-3)
    # the model default differs, and --no-site-profile gives it back
    code, err = classify(str(films), "--csv", str(tmp_path / "default.csv"), "--no-site-profile")
    assert code == 0 and "operating point: model default" in err and "--no-site-profile" in err
    default = read_csv(tmp_path / "default.csv")
    meta = ModelMetadata.load(MODEL_DIR)
    assert {f"{meta.threshold_value:.4f}" in r["message"] for r in default} == {True}
    # (the shipped default may itself be fitted on test_public, so the decisions can agree;
    # the probabilities and thresholds in the messages still differ)
    assert [r["message"] for r in default] != [r["message"] for r in rows]


def _reseal(text: str, **changes: object) -> str:
    data = json.loads(text)
    data.update(changes)
    return sp.seal(data)


@pytest.mark.parametrize("damage", ["tamper", "other_model"])
def test_refused_profile_falls_back_to_the_model_default_visibly(
        calibrated: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    from desktop import cli

    text = calibrated["path"].read_text()
    bad = tmp_path / "bad.json"
    if damage == "tamper":
        bad.write_text(text.replace('"value": ', '"value":  ', 1))
        needle = "failed its integrity check"
    else:
        model = json.loads(text)["model"] | {"sha256": "0" * 64}
        bad.write_text(_reseal(text, model=model))
        needle = "belongs to another model"
    monkeypatch.setenv("PNEUMONIA_XRAY_SITE_PROFILE", str(bad))
    src = generated_films(tmp_path / "in", n=2)
    code, err = classify(str(src), "--csv", str(tmp_path / "o.csv"))
    assert code == 0 and needle in err and "Using the model's own operating point" in err
    assert "operating point: model default (site profile REFUSED" in err
    meta = ModelMetadata.load(MODEL_DIR)
    assert all(f"{meta.threshold_value:.4f}" in r["message"] for r in read_csv(tmp_path / "o.csv"))
    out = io.StringIO()
    assert cli.main(["--self-test"], stdout=out, stderr=out) == 1
    assert needle in out.getvalue()


def test_precedence_user_over_machine_over_bundle(
        calibrated: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop import site_config
    from desktop.settings import Settings

    sha = ModelMetadata.load(MODEL_DIR).sha256
    text = calibrated["path"].read_text()
    bundle, machine = tmp_path / "bundle.json", tmp_path / "machine.json"
    bundle.write_text(_reseal(text, created="2001-01-01T00:00:00Z"))
    machine.write_text(_reseal(text, created="2002-02-02T00:00:00Z"))
    monkeypatch.setattr(site_config, "default_bundle_profile", lambda: bundle)
    monkeypatch.setenv(site_config.MACHINE_ENV, "")
    assert site_config.resolve(sha).origin == "bundle"
    monkeypatch.setenv(site_config.MACHINE_ENV, str(machine))
    active = site_config.resolve(sha)
    assert active.origin == "machine" and active.profile.created.startswith("2002")
    imported = site_config.import_profile(calibrated["path"], sha)
    assert imported.path == str(site_config.user_profile_path())
    active = site_config.resolve(sha)
    assert active.origin == "user" and active.source == "site profile, imported by you"
    # the user's revert turns every profile off, for classify too
    s = Settings.load()
    s.site_profile_off = True
    s.save()
    active = site_config.for_classify(sha, no_site_profile=False)
    assert active.profile is None and "Revert to model default" in active.describe()
    # a refused user profile is not silently replaced by the machine one
    site_config.user_profile_path().write_text(text.replace("Z", "z", 1))
    active = site_config.resolve(sha)
    assert active.profile is None and "integrity" in active.problem


def test_import_refuses_another_models_profile(calibrated: dict, tmp_path: Path) -> None:
    from desktop import site_config

    with pytest.raises(sp.SiteProfileError, match="another model"):
        site_config.import_profile(calibrated["path"], "1" * 64)
    assert not site_config.user_profile_path().exists()


def test_usage_errors_and_the_entry_point(films: Path, tmp_path: Path) -> None:
    from desktop.__main__ import is_headless, main

    code, _out, err = run(str(films), "--target-sensitivity", "1.5", "--dry-run")
    assert code == calibrate.EXIT_USAGE and "--target-sensitivity" in err
    code, _out, err = run(str(tmp_path / "missing"), "--dry-run")
    assert code == calibrate.EXIT_USAGE and "neither a folder nor a CSV" in err
    assert is_headless(["--model-dir", "m", "calibrate", "x"]) and is_headless(["calibrate"])
    assert main(["calibrate", "--help"]) == 0


def test_site_profile_option_of_classify(calibrated: dict, tmp_path: Path) -> None:
    src = generated_films(tmp_path / "in", n=2)
    code, err = classify(str(src), "--csv", str(tmp_path / "a.csv"),
                         "--site-profile", str(calibrated["path"]))
    assert code == 0 and "given with --site-profile" in err
    thr = f"{calibrated['profile'].threshold:.4f}"
    assert all(thr in r["message"] for r in read_csv(tmp_path / "a.csv"))
    # the run's audit event names the operating point and the profile
    from desktop import paths
    from desktop.audit import AuditLog

    with AuditLog(paths.review_db_location()) as log:
        run_event = [e for e in log.all() if e.action == "run:classify"][-1]
    assert run_event.details["site_profile_sha256"] == calibrated["profile"].sha256
    assert "given with --site-profile" in run_event.note
    bad = tmp_path / "bad.json"
    bad.write_bytes(calibrated["path"].read_bytes().replace(b"\n", b"\r\n"))
    code, err = classify(str(src), "--csv", str(tmp_path / "b.csv"), "--site-profile", str(bad))
    assert code == 1 and "integrity check" in err and not (tmp_path / "b.csv").exists()
