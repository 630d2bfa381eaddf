"""The window and the site profile: the operating point in force is shown and used; a refused
profile shows a red banner and the model default; import, report and revert (Tools menu), each
audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop import operating_point, session
from desktop.audit import AuditLog
from desktop.qt import site_actions
from pneumonia_core import site_profile as sp
from pneumonia_core.metadata import ModelMetadata
from tests.conftest import MODEL_DIR
from tests.desktop.qt.app_helpers import new_window
from tests.desktop.test_site_calibrate import generated_films

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def audit_actions(home: Path) -> list[str]:
    from desktop import paths

    assert paths.review_db_location().is_relative_to(home)
    with AuditLog(paths.review_db_location()) as log:
        return [e.action for e in log.all()]


def test_machine_profile_is_shown_used_and_audited(qtbot, profile, home, tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMONIA_XRAY_SITE_PROFILE", str(profile))
    prof = sp.load_profile(profile)
    films = generated_films(tmp_path / "study", n=3)
    w = new_window(qtbot, [films])
    info = w.result_panel.model_label.text()
    assert "site profile, machine-wide" in info and prof.created[:10] in info
    assert f"{prof.n_films} films" in info and not w.banner.isVisible()
    assert w.site_status.text() in info and w.site_status.isVisible()
    assert w.point.threshold == pytest.approx(prof.threshold)
    assert w.point.scale == pytest.approx(prof.scale) and w.point.offset == prof.offset
    rows = w.results.rows()
    assert rows and {r.threshold for r in rows} == {prof.threshold}
    assert operating_point.ACTION_SITE_APPLY in audit_actions(home)
    d = site_actions.report_dialog(w)
    assert "specificity [95% CI]" in d.table.toPlainText()
    assert len([lab for lab in d.findChildren(type(w.banner)) if lab.pixmap() and
                not lab.pixmap().isNull()]) == 2
    d.close()
    # revert: the model default, open films re-classified with it
    meta = ModelMetadata.load(MODEL_DIR)
    with qtbot.waitSignal(w.review_synced, timeout=60_000):  # re-decided in place, no batch
        site_actions.revert(w)
    assert "model default" in w.result_panel.model_label.text()
    assert "turned off" in w.result_panel.model_label.text()
    assert w.point.threshold == pytest.approx(meta.threshold_value)
    assert {r.threshold for r in w.results.rows()} == {meta.threshold_value}
    flagged_now = {r.path for r in w.results.rows() if r.flagged}
    assert {e.path for e in w.flagged.model.entries()} == flagged_now
    assert session.ACTION_SITE_REVERT in audit_actions(home)
    w.close()


def test_import_from_the_window(qtbot, profile, home, tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMONIA_XRAY_SITE_PROFILE", "")
    w = new_window(qtbot, [generated_films(tmp_path / "study")])  # the profile's own films
    assert "no site profile" in w.result_panel.model_label.text()
    before = {e.path for e in w.flagged.model.entries()}
    with qtbot.waitSignal(w.review_synced, timeout=60_000):  # re-decided in place, no batch
        assert site_actions.import_profile(w, str(profile))
    # films no longer flagged under the profile left the review list (none was reviewed)
    after = {e.path for e in w.flagged.model.entries()}
    assert after == {r.path for r in w.results.rows() if r.flagged} and after < before
    assert "site profile, imported by you" in w.result_panel.model_label.text()
    assert (home / "config" / "site_profile.json").read_bytes() == profile.read_bytes()
    assert (home / "config" / "site_profile.roc.png").is_file()
    assert session.ACTION_SITE_IMPORT in audit_actions(home)
    w.close()


@pytest.mark.parametrize("damage", ["tamper", "other_model"])
def test_refused_profile_shows_a_banner_and_uses_the_model_default(
        qtbot, profile, home, tmp_path, monkeypatch, damage):
    text = profile.read_text()
    bad = tmp_path / "bad.json"
    if damage == "tamper":
        bad.write_text(text.replace("films", "filmz", 1))
        needle = "failed its integrity check"
    else:
        data = json.loads(text)
        data["model"]["sha256"] = "0" * 64
        bad.write_text(sp.seal(data))
        needle = "belongs to another model"
    monkeypatch.setenv("PNEUMONIA_XRAY_SITE_PROFILE", str(bad))
    w = new_window(qtbot)
    assert w.banner.isVisible() and needle in w.banner.text()
    assert "model default (site profile REFUSED" in w.result_panel.model_label.text()
    assert "REFUSED" in w.site_status.text()
    assert w.point.threshold == pytest.approx(ModelMetadata.load(MODEL_DIR).threshold_value)
    assert operating_point.ACTION_SITE_REFUSED in audit_actions(home)
    # importing the same file is refused too, with the reason
    monkeypatch.setattr(site_actions.QMessageBox, "warning", lambda *a: None)
    assert not site_actions.import_profile(w, str(bad))
    assert not (home / "config" / "site_profile.json").exists()
    w.close()
