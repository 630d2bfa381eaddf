"""The machine-wide configuration folder: where it is, the machine settings IT writes there
(defaults, origins, fail-closed on a broken file) and how classify, --self-test, the site
profile and the data folder follow them; data files of a newer release refused; a new model
version announced."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from pathlib import Path

import pytest

from desktop import cli, machine_config, paths, site_config
from desktop.audit import AuditLog
from desktop.review_store import ReviewStore, ReviewStoreError
from desktop.sqlite_util import DATA_FORMAT
from tests.conftest import simple_xray


def test_env_relocates_the_machine_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(machine_config.MACHINE_CONFIG_ENV, str(tmp_path / "etc"))
    assert machine_config.machine_config_dir() == tmp_path / "etc"
    assert not (tmp_path / "etc").exists()  # never created by a reader


def test_default_machine_folder_is_the_platform_one(monkeypatch) -> None:
    monkeypatch.delenv(machine_config.MACHINE_CONFIG_ENV, raising=False)
    folder = machine_config.machine_config_dir()
    assert folder.name == "pneumonia-xray"
    if sys.platform.startswith("linux"):
        assert folder == Path("/etc/pneumonia-xray")


# -- the machine settings (issue 24) -----------------------------------------------------------


@pytest.fixture
def machine(home: Path, monkeypatch, tmp_path: Path) -> Path:
    """An empty machine-wide folder for this test (the real /etc is never read); set after the
    ``home`` fixture, which points the machine folder at an empty one of its own."""
    folder = tmp_path / "etc-pneumonia-xray"
    folder.mkdir()
    monkeypatch.setenv(machine_config.MACHINE_CONFIG_ENV, str(folder))
    monkeypatch.delenv(site_config.MACHINE_ENV, raising=False)
    return folder


def write_config(folder: Path, **values: object) -> Path:
    path = folder / machine_config.CONFIG_FILE
    path.write_text(json.dumps(values))
    return path


def test_no_file_gives_the_defaults(machine: Path) -> None:
    s = machine_config.load_settings()
    assert (s.allow_user_profile, s.threshold_locked, s.require_reviewer_name) == (
        True, False, False)
    assert s.data_folder() is None and s.origin("threshold_locked") == "default"
    assert s.describe().startswith("machine settings defaults (no ")
    assert str(machine / "config.json") in s.describe()


def test_file_values_and_where_each_came_from(machine: Path) -> None:
    path = write_config(machine, threshold_locked=True, data_dir="/srv/xray/{user}")
    s = machine_config.load_settings()
    assert s.threshold_locked and s.allow_user_profile and not s.problem
    assert s.origin("threshold_locked") == str(path) and s.origin("allow_user_profile") == "default"
    assert s.data_folder().parent == Path("/srv/xray") and "{user}" not in str(s.data_folder())
    assert f"from {path}" in s.describe() and "threshold LOCKED" in s.describe()
    details = s.audit_details()
    assert details["machine_settings"]["threshold_locked"] is True
    assert details["machine_settings_origin"]["data_dir"] == str(path)


@pytest.mark.parametrize("text, reason", [
    ("{not json", "not valid JSON"),
    ('{"threshold_locked": "yes"}', "threshold_locked must be true or false"),
    ('{"threshhold_locked": true}', "unknown setting(s) threshhold_locked"),
    ('{"data_dir": "relative/folder"}', "absolute path"),
])
def test_a_broken_file_fails_closed_and_says_why(machine: Path, text: str, reason: str) -> None:
    (machine / "config.json").write_text(text)
    s = machine_config.load_settings()
    assert reason in s.problem
    assert not s.allow_user_profile and s.threshold_locked and s.require_reviewer_name
    assert "REFUSED" in s.describe() and s.origin("threshold_locked").startswith("safe value")
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["--self-test"], stdout=out, stderr=err) == 1
    assert "SELF-TEST FAILED: machine settings" in err.getvalue() and reason in err.getvalue()


def test_self_test_shows_the_settings_in_force(machine: Path) -> None:
    write_config(machine, require_reviewer_name=True)
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["--self-test"], stdout=out, stderr=err) == 0, err.getvalue()
    assert "reviewer name required" in out.getvalue()
    assert f"from {machine / 'config.json'}" in out.getvalue()


def test_data_folder_from_the_machine_settings(machine: Path, monkeypatch,
                                               tmp_path: Path) -> None:
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    write_config(machine, data_dir=str(tmp_path / "data" / "{user}"))
    assert paths.review_db_location().parent.parent == tmp_path / "data"
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))  # the explicit override wins
    assert paths.review_db_location() == tmp_path / "home" / "data" / paths.REVIEW_DB_NAME


def classify(tmp_path: Path, *extra: str) -> tuple[int, str, Path]:
    from PIL import Image

    folder = tmp_path / "films"
    folder.mkdir(exist_ok=True)
    Image.fromarray(simple_xray(1)).save(folder / "a.png")
    out, err = tmp_path / "out.csv", io.StringIO()
    code = cli.main(["classify", str(folder), "--csv", str(out), *extra], stderr=err)
    return code, err.getvalue(), out


def test_classify_refuses_a_locked_threshold_and_shows_the_settings(
        machine: Path, home: Path, tmp_path: Path) -> None:
    write_config(machine, threshold_locked=True)
    code, err, out = classify(tmp_path, "--threshold", "0.5")
    assert code == cli.EXIT_USAGE and "--threshold refused" in err and not out.exists()
    code, err, out = classify(tmp_path)
    assert code in (cli.EXIT_OK, cli.EXIT_INCOMPLETE) and out.exists(), err
    assert "machine settings from" in err and "threshold LOCKED" in err
    with AuditLog(paths.review_db_location()) as audit:
        run = [e for e in audit.all() if e.action == "run:classify"][-1]
    assert run.details["machine_settings"]["threshold_locked"] is True
    assert run.details["machine_config"] == str(machine / "config.json")
    # the settings in force are audited once, and again when IT changes them
    classify(tmp_path)
    write_config(machine, threshold_locked=False)
    classify(tmp_path)
    with AuditLog(paths.review_db_location()) as audit:
        noted = [e for e in audit.all() if e.action == "machine:settings"]
    assert [e.details["machine_settings"]["threshold_locked"] for e in noted] == [True, False]


def test_user_overrides_follow_the_machine_settings(machine: Path, home: Path,
                                                    tmp_path: Path) -> None:
    from pneumonia_core.metadata import ModelMetadata
    from pneumonia_core.site_profile import SiteProfileError
    from tests.conftest import MODEL_DIR

    sha = ModelMetadata.load(MODEL_DIR).sha256
    user = site_config.user_profile_path()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text("{}")  # an imported (here broken) profile: used while overrides are allowed
    assert site_config.resolve(sha).problem
    write_config(machine, allow_user_profile=False)
    assert site_config.resolve(sha).problem == ""  # the user's file is no longer consulted
    with pytest.raises(SiteProfileError, match="do not allow users"):
        site_config.import_profile(user, sha)
    code, err, _ = classify(tmp_path, "--no-site-profile")
    assert code == cli.EXIT_MODEL and "--no-site-profile refused" in err
    assert site_config.user_off(True) == ""  # a saved "Revert to model default" is ignored


def test_an_older_release_refuses_a_newer_data_file(tmp_path: Path) -> None:
    db = tmp_path / "review.sqlite3"
    ReviewStore(db).close()
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == DATA_FORMAT  # stamped
        con.execute("CREATE TABLE from_the_future (x)")
        con.execute("PRAGMA user_version=7")
    before = db.read_bytes()
    with pytest.raises(ReviewStoreError, match="newer release of pneumonia-xray .data format 7"):
        ReviewStore(db)
    with pytest.raises(Exception, match="data format 7"):
        AuditLog(db)
    assert db.read_bytes() == before  # not migrated, not touched


def test_a_new_model_version_is_announced_once_and_audited(tmp_path: Path) -> None:
    from dataclasses import replace

    from desktop.model_change import ACTION, note_model
    from pneumonia_core.metadata import ModelMetadata
    from tests.conftest import MODEL_DIR

    meta = ModelMetadata.load(MODEL_DIR)
    with AuditLog(tmp_path / "review.sqlite3") as audit:
        assert note_model(audit, meta) == ""  # first use: nothing to compare with
        assert note_model(audit, meta) == ""
        newer = replace(meta, version="9.9.9", sha256="ab" * 32)
        text = note_model(audit, newer)
        assert "A new model is installed" in text and "9.9.9" in text and meta.version in text
        assert note_model(audit, newer) == ""  # announced once
        events = [e for e in audit.all() if e.action == ACTION]
    assert len(events) == 1 and events[0].details["before"]["version"] == meta.version
