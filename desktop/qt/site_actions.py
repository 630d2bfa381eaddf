"""The site profile in the window: which operating point is in force, the report, import and
revert (Tools menu), the red banner for a refused profile, and their audit events.

The window calls :func:`install` once its menus exist. The state (which profile, which point)
is the session's (:mod:`desktop.session`, :mod:`desktop.operating_point`); this module only
shows it and forwards the user's commands.
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
from desktop.session import Change
from desktop.sqlite_util import StorageError
from pneumonia_core.site_profile import SiteProfileError, format_table, plot_paths

if TYPE_CHECKING:
    from desktop.qt.main_window import MainWindow

log = logging.getLogger(__name__)

def install(w: MainWindow) -> None:
    """Tools menu entries, the banner for a refused profile, the start-up audit events of the
    operating point in force (:meth:`desktop.session.ReadingSession.start_events`)."""
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
    try:
        w.session.audit_start()
    except StorageError as exc:
        w.show_error(f"Audit trail not written: {exc}")


def show_state(w: MainWindow) -> None:
    """Result panel and status bar text (both the session's one status line), and the red
    banner while a profile is refused."""
    w._update_model_info()
    res = w.session.resolution
    label = getattr(w, "site_status", None)
    if label is None:
        label = w.site_status = QLabel()
        label.setObjectName("site_status")
        w.statusBar().addPermanentWidget(label)
    label.setText(res.status_line())
    label.setToolTip(res.describe() + "\nTools > Site calibration report… for details")
    label.setStyleSheet("color:#b3261e; font-weight:bold;" if res.site.problem else "")
    lines = [ln for ln in w.banner.text().split("\n") if ln and not ln.startswith("Site profile")]
    if res.site.problem:
        lines.append(f"Site profile refused: {res.site.problem} The model's own operating point "
                     "is used.")
    w.banner.setText("\n".join(lines))
    w.banner.setVisible(bool(lines))


def _changed(w: MainWindow, change: Change) -> None:
    """After import or revert: the open rows were re-decided in place from their logits (no
    file is read); the window shows it and the review list follows."""
    w.apply_change(change)
    w.statusBar().showMessage(
        f"{change.new.source} in force"
        + (f"; {len(change.rows)} open film(s) re-decided" if change.rows else ""), 10000)


def import_profile(w: MainWindow, source: str) -> bool:
    """Verify and install ``source`` for this user; refused: a message and an audit event."""
    try:
        change = w.session.import_profile(source)
    except (SiteProfileError, OSError) as exc:
        try:
            w.audit.append(w.session.refused_event(f"import of {source} refused: {exc}"))
        except StorageError as err:
            w.show_error(f"Audit trail not written: {err}")
        QMessageBox.warning(w, "Site profile refused", str(exc))
        return False
    _changed(w, change)
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
    _changed(w, w.session.revert_profile())


class ReportDialog(QDialog):
    """The profile in force: where it comes from, its table and its two plots."""

    def __init__(self, w: MainWindow) -> None:
        super().__init__(w)
        self.setWindowTitle("Site calibration report")
        self.resize(1180, 860)
        lay = QVBoxLayout(self)
        site = w.session.site
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
