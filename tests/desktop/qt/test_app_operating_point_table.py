"""One operating point everywhere: in every combination of model default, site profile, user
setting and ``--threshold``, the window's threshold, its result panel (probability bar and
text), its status bar, its count line, its worklist, ``classify`` and the audit trail agree.
Then a threshold chosen in the window (Tools > Decision threshold) moves all of them together.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from pathlib import Path

import pytest

from desktop import cli
from desktop.audit import AuditLog
from desktop.settings import Settings
from pneumonia_core import site_profile as sp
from pneumonia_core.formatting import format_threshold
from pneumonia_core.metadata import ModelMetadata
from tests.conftest import MODEL_DIR
from tests.desktop.test_site_calibrate import generated_films

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]

USER = 0.3
OPTION = 0.7


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_films(tmp_path_factory.mktemp("study"), n=4)


def expected(site: bool, user: bool, option: bool, profile: Path) -> tuple[float, str]:
    """The rule, written independently of the app: --threshold, else your setting, else the
    site profile's, else the model's; and the source the app must name."""
    if option:
        return OPTION, "--threshold"
    if user:
        return USER, "your setting"
    if site:
        return sp.load_profile(profile).threshold, "site profile, machine-wide"
    return ModelMetadata.load(MODEL_DIR).threshold_value, "model default"


def classify_flagged(study: Path, tmp_path: Path, option: bool) -> set[str]:
    """The files ``classify`` flags (with ``--threshold OPTION`` when ``option``)."""
    out_csv = tmp_path / "out.csv"
    args = ["classify", str(study), "--csv", str(out_csv)]
    if option:
        args += ["--threshold", str(OPTION)]
    err = io.StringIO()
    code = cli.main(args, stdout=io.StringIO(), stderr=err)
    assert code == 0, err.getvalue()
    with out_csv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["path"] for r in rows if r["flagged"] == "1"}


def check_views(w, threshold: float, source: str) -> set[str]:
    """Every view of the window against (threshold, source); returns the flagged paths."""
    assert w.threshold == pytest.approx(threshold)
    assert w.point.source == source
    status = w.site_status.text()
    assert f"threshold {format_threshold(threshold)} ({source})" in status
    assert status in w.result_panel.model_label.text()  # panel and status bar: one line
    assert w.result_panel.bar.point == w.point
    assert f"(threshold {format_threshold(threshold)})" in w.result_panel.probability_label.text()
    rows = w.results.rows()
    assert rows and all(r.status == "ok" for r in rows)
    assert all(r.threshold == pytest.approx(threshold) for r in rows)
    flagged = {r.path for r in rows if r.flagged}
    assert flagged == {r.path for r in rows if r.probability >= threshold}
    m = re.search(r"classified, (\d+) flagged · worklist: (\d+) pending", w.count_label.text())
    assert m, w.count_label.text()
    assert int(m.group(1)) == len(flagged)
    message = w.statusBar().currentMessage()  # a transient message must not contradict them
    assert "flagged" not in message or f"{len(flagged)} flagged" in message, message
    pending = {e.path for e in w.flagged.model.entries() if e.review_state == "pending"}
    assert pending == flagged and int(m.group(2)) == len(flagged)
    return flagged


@pytest.mark.parametrize(("site", "user", "option"),
                         list(itertools.product([False, True], repeat=3)))
def test_window_panel_status_counts_worklist_classify_and_audit_agree(
        qtbot, profile, study, home, tmp_path, monkeypatch, site, user, option):
    monkeypatch.setenv("PNEUMONIA_XRAY_SITE_PROFILE", str(profile) if site else "")
    if user:
        Settings(threshold_override=USER, first_start_acknowledged=True).save()
    threshold, source = expected(site, user, option, profile)
    from desktop.qt.app import create_window

    w = create_window(show_first_start=False, threshold=OPTION if option else None)
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.runner.finished, timeout=60_000):
        w.open_paths([str(study)])
    qtbot.waitUntil(lambda: "worklist" in w.count_label.text(), timeout=10_000)
    w.table.setCurrentIndex(w.results_proxy.index(0, 0))
    flagged = check_views(w, threshold, source)
    # the audit: every classification of the window says which threshold decided it, and
    # each layer above the model default was recorded at start with its source
    with AuditLog(home / "data" / "review.sqlite3") as log:
        events = log.all()
    paths = {r.path for r in w.results.rows()}
    used = [e.threshold for e in events if e.action == "classify" and e.path in paths]
    assert len(used) == len(paths) and used == pytest.approx([threshold] * len(used))
    layers = {e.decision: e.threshold for e in events if e.action.startswith(
        ("threshold:", "site_profile:apply"))}
    assert (source in layers) == (source != "model default")
    if source != "model default":
        assert layers[source] == pytest.approx(threshold)
    # classify, in the same home (same settings, same site profile), same flags
    csv_flagged = classify_flagged(study, tmp_path, option)
    assert csv_flagged == flagged
    with AuditLog(home / "data" / "review.sqlite3") as log:
        run_event = [e for e in log.all() if e.action == "run:classify"][-1]
    assert run_event.threshold == pytest.approx(threshold)
    assert run_event.details["operating_point"] == source
    # Tools > Decision threshold 50%: every view follows, the --threshold gives way
    with qtbot.waitSignal(w.review_synced, timeout=20_000):
        w.apply_threshold(0.5)
    flagged = check_views(w, 0.5, "your setting")
    csv_flagged = classify_flagged(study, tmp_path, False)
    assert csv_flagged == flagged
    w.close()
