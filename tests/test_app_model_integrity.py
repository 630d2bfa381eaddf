"""The window tells the truth about its model (issue 16): an unverified model folder shows a
persistent banner and is recorded in the audit log; without a model nothing is called
classified or flagged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from desktop.audit import AuditLog
from pneumonia_core.integrity import shipped_model_dir
from tests.app_helpers import new_window, save_png
from tests.conftest import synthetic_xray

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def _images(folder: Path, n: int = 3) -> Path:
    folder.mkdir()
    for i in range(n):
        save_png(synthetic_xray(i), folder / f"film_{i}.png")
    return folder


def test_unverified_model_shows_a_banner_and_is_audited(qtbot, tmp_path, home, monkeypatch):
    model = tmp_path / "model"
    shutil.copytree(shipped_model_dir(), model)
    meta = json.loads((model / "metadata.json").read_text())
    meta["threshold"]["value"] = 0.99
    (model / "metadata.json").write_text(json.dumps(meta))
    monkeypatch.setenv("PNEUMONIA_XRAY_MODEL_DIR", str(model))
    w = new_window(qtbot, [_images(tmp_path / "in")])
    assert w.banner.isVisible() and "UNVERIFIED MODEL" in w.banner.text()
    assert "changed: metadata.json" in w.banner.text()
    assert "(UNVERIFIED)" in w.result_panel.model_label.text()
    with AuditLog(w.review_db) as audit:
        events = [e for e in audit.all() if e.action == "classify"]
    assert len(events) == 3
    assert {(e.details["model_verified"], e.details["model_folder_sha256"]) for e in events} == {
        (False, w.bundle.folder_digest)}


def test_shipped_model_has_no_banner_and_audits_verified(qtbot, tmp_path, home, monkeypatch):
    monkeypatch.delenv("PNEUMONIA_XRAY_MODEL_DIR", raising=False)
    w = new_window(qtbot, [_images(tmp_path / "in", 1)])
    if w.bundle is None or shipped_model_dir().resolve() != w.bundle.folder.resolve():
        pytest.fail("the window did not load the shipped model")
    assert not w.banner.isVisible()
    assert "(verified)" in w.result_panel.model_label.text()
    with AuditLog(w.review_db) as audit:
        (event,) = [e for e in audit.all() if e.action == "classify"]
    assert event.details["model_verified"] is True


def test_without_a_model_the_status_says_nothing_was_classified(qtbot, tmp_path, monkeypatch):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.json").write_text("{")
    monkeypatch.setenv("PNEUMONIA_XRAY_MODEL_DIR", str(broken))
    w = new_window(qtbot, [_images(tmp_path / "in", 4)])
    assert w.bundle is None
    text = w.count_label.text()
    assert "none classified: no model loaded" in text and "4 of 4" in text
    assert "flagged" not in text
    assert w.flagged.model.rowCount() == 0
