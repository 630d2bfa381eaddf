"""Issue 23 in the window: a forged or unsigned profile is refused with a red banner, a profile
dropped into the user's folder is not "imported by you", the review list edited outside the
app is announced at start, the audit anchor is shown and exported, and a read-only data
folder still shows the saved list with a banner that says why."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from desktop import audit_anchor, paths, site_config
from desktop import profile_authority as pa
from desktop.machine_config import MACHINE_CONFIG_ENV
from desktop.qt.audit_dialog import AuditDialog
from desktop.review_store import FlagEntry, ReviewStore
from tests.desktop.qt.app_helpers import new_window
from tests.reliability.test_trust_audit import read_only_folder
from tests.reliability.test_trust_profiles import forged_text, genuine_text

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


@pytest.fixture(autouse=True)
def no_machine_profile(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MACHINE_CONFIG_ENV, str(tmp_path / "machine"))
    monkeypatch.setenv(site_config.MACHINE_ENV, "")
    monkeypatch.setattr(site_config, "default_bundle_profile", lambda: tmp_path / "none.json")


def seed_marked() -> Path:
    db = paths.review_db_path()
    with ReviewStore(db) as store:
        store.upsert_many([FlagEntry(path=f"/films/{i}.png", file_sha256=f"{i:064d}",
                                     status="error", message="bad") for i in range(2)])
        store.set_review("/films/0.png", f"{0:064d}", "reviewed", "seen", "dr_a")
    return db


def test_forged_machine_profile_is_refused_in_the_window(qtbot, tmp_path, monkeypatch):
    forged = tmp_path / "forged.json"
    forged.write_text(forged_text())
    monkeypatch.setenv(site_config.MACHINE_ENV, str(forged))
    w = new_window(qtbot)
    assert w.session.site.profile is None and "implausible" in w.banner.text()
    assert "model default" in w.result_panel.model_label.text()
    w.close()


def test_unsigned_profile_refused_where_it_keys_are_trusted(qtbot, tmp_path, monkeypatch):
    from pneumonia_core.profile_signing import generate_keypair

    keys = tmp_path / "machine" / pa.TRUSTED_KEYS
    keys.mkdir(parents=True)
    generate_keypair(keys / "it")
    (keys / "it.key").unlink()  # only the public key stays on the machine
    profile = tmp_path / "p.json"
    profile.write_text(genuine_text())
    monkeypatch.setenv(site_config.MACHINE_ENV, str(profile))
    w = new_window(qtbot)
    assert w.session.site.profile is None and "is not signed" in w.banner.text()
    w.close()


def test_dropped_user_profile_is_not_called_imported(qtbot):
    target = site_config.user_profile_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(genuine_text())
    w = new_window(qtbot)
    text = w.site_status.text()
    assert "imported by you" not in text and "not imported" in text
    w.close()


def test_review_list_edited_outside_the_app_is_announced_at_start(qtbot):
    db = seed_marked()
    con = sqlite3.connect(db)
    con.execute("UPDATE flags SET review_state='dismissed' WHERE path='/films/1.png'")
    con.commit()
    con.close()
    w = new_window(qtbot)
    qtbot.waitUntil(lambda: w.audit_check is not None, timeout=20_000)
    assert "1 review entry disagrees with the audit trail" in w.banner.text()
    assert "/films/1.png" in w.banner.text()
    w.close()


def test_audit_window_shows_and_exports_the_anchor(qtbot, tmp_path):
    db = seed_marked()
    anchor = audit_anchor.read(audit_anchor.anchor_path(db))
    dialog = AuditDialog(db)
    qtbot.addWidget(dialog)
    assert anchor.head_hash in dialog.anchor_label.text()
    out = tmp_path / "for_it.json"
    assert "anchor written" in dialog.export_anchor_to(out)
    assert json.loads(out.read_text())["head_hash"] == anchor.head_hash


def test_read_only_data_folder_shows_the_saved_list_and_says_why(qtbot, monkeypatch):
    db = seed_marked()
    read_only_folder(monkeypatch, db.parent)
    w = new_window(qtbot)
    assert not w.banner.isHidden() and "read-only" in w.banner.text()
    assert len(w.flagged.model.entries()) == 2  # the saved list, not an empty one
    qtbot.waitUntil(lambda: w.audit_check is not None, timeout=20_000)
    assert w.audit_check.ok, w.audit_check.summary()
    w.close()
