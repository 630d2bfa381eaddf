"""The window under IT's machine settings (machine_config_dir()/config.json): the settings in
force are shown under the model line; a locked threshold wins over the user's saved one and
the threshold dialog is refused; a required reviewer name is asked for before a mark; a new
model version since this data file's last use is announced in the banner and the audit."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from desktop import machine_config, paths
from desktop.audit import AuditLog
from desktop.model_change import ACTION
from desktop.qt import machine_actions, menus
from desktop.settings import Settings
from pneumonia_core.metadata import ModelMetadata
from tests.conftest import MODEL_DIR
from tests.desktop.qt.app_helpers import new_window

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


@pytest.fixture
def machine(monkeypatch, tmp_path: Path) -> Path:
    folder = tmp_path / "etc"
    folder.mkdir()
    monkeypatch.setenv(machine_config.MACHINE_CONFIG_ENV, str(folder))
    return folder


def test_locked_threshold_and_required_reviewer(qtbot, machine, monkeypatch) -> None:
    (machine / "config.json").write_text(json.dumps(
        {"threshold_locked": True, "require_reviewer_name": True}))
    s = Settings.load()
    s.threshold_override = 0.9  # the user's own threshold, saved before IT locked it
    s.save()
    model_threshold = ModelMetadata.load(MODEL_DIR).threshold_value
    w = new_window(qtbot)
    assert w.threshold == pytest.approx(model_threshold)
    assert w.point.source != "your setting"
    info = w.result_panel.model_label.text()
    assert "threshold LOCKED" in info and str(machine / "config.json") in info
    assert w.machine_status.isVisible()
    assert w.machine_status.text() == "IT settings: threshold locked, reviewer name required"
    shown: list[str] = []
    monkeypatch.setattr(machine_actions.QMessageBox, "information",
                        lambda *a: shown.append(a[2]))
    assert menus.threshold_dialog(w) is None and "locked" in shown[0]
    # the reviewer name: none until given; an empty answer marks nothing
    assert w.reviewer == "" and "name required" in w.flagged.reviewer_label.text()
    monkeypatch.setattr(machine_actions.QInputDialog, "getText", lambda *a, **k: ("  ", True))
    assert not machine_actions.reviewer_ready(w)
    monkeypatch.setattr(machine_actions.QInputDialog, "getText",
                        lambda *a, **k: ("Dr  Ada Lovelace", True))
    assert machine_actions.reviewer_ready(w)
    assert w.reviewer == "Dr Ada Lovelace" and w.flagged.reviewer_label.text().endswith("Lovelace")
    w.close()
    with AuditLog(paths.review_db_location()) as audit:
        (noted,) = [e for e in audit.all() if e.action == "machine:settings"]
    assert noted.path == str(machine / "config.json") and "threshold LOCKED" in noted.note


def test_defaults_change_nothing(qtbot, machine) -> None:
    w = new_window(qtbot)
    assert w.reviewer and "name required" not in w.flagged.reviewer_label.text()
    assert "machine settings defaults" in w.result_panel.model_label.text()
    assert not w.machine_status.isVisible() and not w.banner.isVisible()
    w.close()


def test_a_broken_settings_file_shows_a_banner(qtbot, machine) -> None:
    (machine / "config.json").write_text('{"threshold_locked": "no"}')
    w = new_window(qtbot)
    assert w.banner.isVisible() and "Machine settings refused" in w.banner.text()
    assert "threshold_locked must be true or false" in w.banner.text()
    assert w.machine_status.text().startswith("Machine settings REFUSED")
    assert w.machine.threshold_locked and w.reviewer == ""  # the safe values
    w.close()


def test_a_new_model_is_announced_in_the_window_and_audited(qtbot, machine) -> None:
    db = paths.review_db_path()
    with AuditLog(db):
        pass
    with sqlite3.connect(db) as con:  # the data file last saw an older model
        con.execute("INSERT OR REPLACE INTO meta VALUES ('model_seen', ?)", (json.dumps(
            {"name": "pneumonia-cnn", "version": "0.9.0", "sha256": "ab" * 32}),))
    w = new_window(qtbot)
    assert w.banner.isVisible() and "A new model is installed" in w.banner.text()
    assert "0.9.0" in w.banner.text()
    w.close()
    with AuditLog(db) as audit:
        assert [e.action for e in audit.all()].count(ACTION) == 1
    w2 = new_window(qtbot)  # announced once
    assert "A new model is installed" not in w2.banner.text()
    w2.close()
