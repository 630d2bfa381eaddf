"""The site profile in the window: which operating point is in force, the report, import and
revert (Tools menu), the red banner for a refused profile, and their audit events.

The window calls :func:`resolve_at_start` before it uses its operating point and
:func:`install` once its menus exist; everything else lives here. Qt-free logic is in
:mod:`desktop.site_config` and :mod:`pneumonia_core.site_profile`.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFont, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop import site_config
from desktop.audit import AuditEvent
from desktop.sqlite_util import StorageError
from pneumonia_core.pipeline import display_path
from pneumonia_core.site_profile import SiteProfileError, format_table, plot_paths

if TYPE_CHECKING:
    from desktop.qt.main_window import MainWindow

log = logging.getLogger(__name__)

ACTION_APPLY = "site_profile:apply"
ACTION_REFUSED = "site_profile:refused"
ACTION_IMPORT = "site_profile:import"
ACTION_REVERT = "site_profile:revert"


def resolve_at_start(w: MainWindow) -> None:
    """Set ``w.site`` and, with a model, ``w.model_point`` to the point in force."""
    w.site = site_config.ActiveProfile()
    if w.bundle is None:
        return
    w.site = site_config.resolve(w.bundle.metadata.sha256,
                                 site_config.user_off(w.settings.site_profile_off))
    w.model_point = w.site.operating_point(w.bundle)


def install(w: MainWindow) -> None:
    """Tools menu entries, the banner for a refused profile, the start-up audit event."""
    tools = next((a.menu() for a in w.menuBar().actions() if a.text() == "&Tools"), None)
    tools = tools or w.menuBar().addMenu("&Tools")
    tools.addSeparator()
    for text, slot in (("Site calibration report…", lambda: report_dialog(w)),
                       ("Import site profile…", lambda: import_dialog(w)),
                       ("Revert to model default", lambda: revert(w))):
        action = QAction(text, w)
        action.triggered.connect(slot)
        tools.addAction(action)
    show_state(w)
    if w.bundle is not None and (w.site.profile is not None or w.site.problem):
        audit(w, ACTION_APPLY if w.site.profile is not None else ACTION_REFUSED)


def describe(w: MainWindow) -> str:
    """The operating point in force, short (the full line is in the report and the log)."""
    site = w.site
    if site.profile is not None:
        a = site.profile.after
        return (f"Operating point: {site.source}, {site.profile.created[:10]}, "
                f"{site.profile.n_films} films, sensitivity {a['sensitivity']['value']:.3f} / "
                f"specificity {a['specificity']['value']:.3f} on them")
    if site.problem:
        return "Operating point: model default (site profile REFUSED, see the red banner)"
    if site.turned_off:
        return "Operating point: model default (site profile turned off by you)"
    return "Operating point: model default (no site profile)"


def show_state(w: MainWindow) -> None:
    """Result panel and status bar text, and the red banner while a profile is refused."""
    w._update_model_info()
    label = getattr(w, "site_status", None)
    if label is None:
        label = w.site_status = QLabel()
        label.setObjectName("site_status")
        w.statusBar().addPermanentWidget(label)
    label.setText(describe(w))
    label.setToolTip(w.site.describe() + "\nTools > Site calibration report… for details")
    label.setStyleSheet("color:#b3261e; font-weight:bold;" if w.site.problem else "")
    lines = [ln for ln in w.banner.text().split("\n") if ln and not ln.startswith("Site profile")]
    if w.site.problem:
        lines.append(f"Site profile refused: {w.site.problem} The model's own operating point "
                     "is used.")
    w.banner.setText("\n".join(lines))
    w.banner.setVisible(bool(lines))


def audit(w: MainWindow, action: str, note: str = "") -> None:
    try:
        w.audit.append(AuditEvent(
            action=action, path=w.site.path,
            model_sha256=w.meta.sha256 if w.meta else "",
            threshold=w.model_point.threshold,
            decision=w.site.source, note=note or w.site.describe()))
    except StorageError as exc:
        w.show_error(f"Audit trail not written: {exc}")


def _changed(w: MainWindow, action: str, note: str = "") -> None:
    """After import or revert: the new point for every later film; open films re-classified
    (their probabilities depend on the calibration); a user threshold override is dropped
    (it was chosen on the other calibration)."""
    resolve_at_start(w)
    if w.settings.threshold_override is not None:
        w.settings.threshold_override = None
        note = (note + "; " if note else "") + "your threshold override was removed"
    w.settings.save()
    w.model_threshold = w.model_point.threshold
    w.threshold = w.model_point.threshold
    w.previews.point = w.point
    audit(w, action, note)
    show_state(w)
    paths = [r.path for r in w.results.rows()]
    if paths:
        w.clear_results()

        def drop_stale(_cancelled: bool = False) -> None:
            """Films flagged under the old point but not under the new one leave the review
            list while nobody has reviewed them (as after a threshold change)."""
            w.runner.finished.disconnect(drop_stale)
            for row in w.results.rows():
                if row.status == "ok" and not row.flagged:
                    w.store.remove_pending(display_path(row.path), row.file_sha256)
            w._reload_flags()

        w.runner.finished.connect(drop_stale)
        w.open_paths(paths)
    w.statusBar().showMessage(f"{w.site.source} in force"
                              + (f"; re-classifying {len(paths)} open file(s)" if paths else ""),
                              10000)


def import_profile(w: MainWindow, source: str) -> bool:
    """Verify and install ``source`` for this user; refused: a message and an audit event."""
    if w.bundle is None:
        w.show_error("No model is loaded: a site profile cannot be checked against it.")
        return False
    try:
        site_config.import_profile(source, w.bundle.metadata.sha256)
    except (SiteProfileError, OSError) as exc:
        audit(w, ACTION_REFUSED, f"import of {source} refused: {exc}")
        QMessageBox.warning(w, "Site profile refused", str(exc))
        return False
    w.settings.site_profile_off = False
    _changed(w, ACTION_IMPORT, f"imported from {source}")
    return True


def import_dialog(w: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(w, "Import site profile", w.settings.last_folder,
                                          "Site profile (*.json);;All files (*)")
    if path:
        import_profile(w, path)


def revert(w: MainWindow) -> None:
    """Use the model's own operating point for this user (site profiles off)."""
    if not site_config.users_may_override():
        QMessageBox.warning(w, "Not allowed on this workstation",
                            f"{site_config.OVERRIDE_REFUSED}; ask IT.")
        return
    w.settings.site_profile_off = True
    _changed(w, ACTION_REVERT)


class ReportDialog(QDialog):
    """The profile in force: where it comes from, its table and its two plots."""

    def __init__(self, w: MainWindow) -> None:
        super().__init__(w)
        self.setWindowTitle("Site calibration report")
        self.resize(1180, 860)
        lay = QVBoxLayout(self)
        site = w.site
        head = QLabel()
        head.setWordWrap(True)
        head.setTextFormat(Qt.TextFormat.RichText)
        head.setText(f"<b>Operating point in force:</b> {html.escape(site.describe())}")
        lay.addWidget(head)
        prof = site.profile
        self.table = QPlainTextEdit()
        self.table.setReadOnly(True)
        font = QFont("Monospace")
        font.setStyleHint(QFont.StyleHint.TypeWriter)
        self.table.setFont(font)
        if prof is None:
            self.table.setPlainText(
                "No site profile is in force: the model's own calibration and threshold are "
                "used.\n\nFit one with `pneumonia-xray calibrate FOLDER` on labelled films of "
                "this site, then Tools > Import site profile… (see docs/site-calibration.md).")
            lay.addWidget(self.table)
        else:
            d = prof.data
            cal = d["calibration"]
            excluded = d["films"]["excluded"]
            text = (
                f"Model {d['model']['name']} {d['model']['version']} "
                f"(sha256 {d['model']['sha256'][:12]})\n"
                f"Created {d['created']} with pneumonia-xray {d['tool_version']} on "
                f"{d['films']['n']} films of {d['films']['source']} "
                f"({d['films']['n_negative']} negative, {d['films']['n_positive']} positive; "
                f"{len(excluded)} left out)\n"
                f"Calibration: {cal['method']}, P = sigmoid({cal['scale']:.4f} * logit "
                f"{cal['offset']:+.4f}) ({cal['selected_by']})\n"
                f"Threshold {d['threshold']['value']:.4f} for sensitivity >= "
                f"{d['threshold']['target_sensitivity']:g}\n\n"
                + format_table(d["report"]) + "\n\n'site profile' is measured on the films it "
                "was fitted on (optimistic); 'site, cross-val.' is the honest estimate.")
            self.table.setPlainText(text)
            self.table.setMinimumHeight(330)
            self.table.setMaximumHeight(360)
            lay.addWidget(self.table)
            plots = QHBoxLayout()
            for png in plot_paths(site.path):
                label = QLabel()
                pix = QPixmap(str(png)) if Path(png).is_file() else QPixmap()
                if pix.isNull():
                    label.setText(f"{Path(png).name}: not found beside the profile")
                else:
                    label.setPixmap(pix.scaledToWidth(540, Qt.TransformationMode.SmoothTransformation))
                plots.addWidget(label)
            box = QWidget()
            box.setLayout(plots)
            scroll = QScrollArea()
            scroll.setWidget(box)
            scroll.setWidgetResizable(True)
            lay.addWidget(scroll, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)


def report_dialog(w: MainWindow) -> ReportDialog:
    d = ReportDialog(w)
    d.open()
    w.site_report = d
    return d
