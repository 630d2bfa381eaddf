"""Menus, keyboard shortcuts (OHIF conventions) and the dialogs they open."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from desktop.qt import (
    accessibility,
    calibrate_dialog,
    finding_actions,
    machine_actions,
    report_dialog,
    shortcuts,
)
from desktop.qt.audit_dialog import AuditDialog
from desktop.qt.dialogs import AboutDialog, FirstStartDialog, ThresholdDialog

if TYPE_CHECKING:
    from desktop.qt.main_window import MainWindow

#: (menu, text, shortcuts, method name or callable taking the window)
HOTKEYS: list[tuple[str, str, list[str], str]] = [
    ("&File", "Open images…", ["Ctrl+O"], "open_files_dialog"),
    ("&File", "Open folder…", ["Ctrl+Shift+O"], "open_folder_dialog"),
    ("&File", "Export flagged list as CSV…", ["Ctrl+E"], "export_flagged_dialog"),
    ("&File", "Export reader findings as CSV…", [], "export_findings"),
    ("&File", "Cancel classification", ["Esc"], "cancel_batch"),
    ("&File", "Clear results", [], "clear_results"),
    ("&File", "Quit", ["Ctrl+Q"], "close"),
    ("&View", "Next image", ["Right", "PgDown"], "next"),
    ("&View", "Previous image", ["Left", "PgUp"], "prev"),
    ("&View", "Zoom in", ["+", "Ctrl++"], "zoom_in"),
    ("&View", "Zoom out", ["-", "Ctrl+-"], "zoom_out"),
    ("&View", "Fit to window", ["="], "fit"),
    ("&View", "Invert", ["I"], "invert"),
    ("&View", "Reset window/level", ["0"], "reset"),
    ("&View", "Heatmap overlay", ["H"], "heatmap"),
    ("&Review", "Mark reviewed (film on screen)", ["R"], "mark_reviewed"),
    ("&Review", "Dismiss (film on screen)", ["D"], "mark_dismissed"),
    ("&Review", "Reopen (back to pending)", ["O"], "mark_reopen"),
    ("&Review", "Next pending film", ["J"], "next_pending"),
    ("&Review", "Previous pending film", ["K"], "prev_pending"),
    ("&Review", "Edit note", ["N"], "focus_note"),
    ("&Review", "Undo last review", ["Ctrl+Z"], "undo_review"),
    ("&Review", "Search the worklist", ["Ctrl+F"], "focus_search"),
    ("&Review", "Finding: pneumonia (film on screen)", ["P"], "finding:pneumonia"),
    ("&Review", "Finding: no pneumonia (film on screen)", ["C"], "finding:no_pneumonia"),
    ("&Review", "Finding: not assessable (film on screen)", ["A"], "finding:not_assessable"),
    ("&Review", "Finding with a note…", ["F"], "finding_dialog"),
    ("&Tools", "Decision threshold…", [], "threshold_dialog"),
    ("&Tools", "Audit trail…", [], "audit_dialog"),
    ("&Tools", "Verify audit trail", [], "verify_audit_dialog"),
    ("&Tools", "Performance report…", [], "performance_report"),
    ("&Tools", "Calibrate…", [], "calibrate_dialog"),
    ("&Help", "Keyboard shortcuts…", ["?"], "shortcuts_dialog"),
    ("&Help", "Intended use…", [], "first_start_dialog"),
    ("&Help", "About…", ["F1"], "about_dialog"),
]


def _handlers(w: MainWindow) -> dict[str, object]:
    v = w.viewer
    return {
        "next": lambda: w.step(+1),
        "prev": lambda: w.step(-1),
        "zoom_in": lambda: v.zoom_by(1.25),
        "zoom_out": lambda: v.zoom_by(0.8),
        "fit": v.fit,
        "invert": v.toggle_invert,
        "reset": v.reset_view,
        "heatmap": lambda: w.set_heatmap(not w.heatmap_button.isChecked()),
        "mark_reviewed": lambda: w.review_current("reviewed"),
        "mark_dismissed": lambda: w.review_current("dismissed"),
        "mark_reopen": lambda: w.review_current("pending"),
        "next_pending": lambda: w.next_pending(+1),
        "prev_pending": lambda: w.next_pending(-1),
        "threshold_dialog": lambda: threshold_dialog(w),
        "audit_dialog": lambda: audit_dialog(w),
        "first_start_dialog": lambda: first_start_dialog(w, force=True),
        "about_dialog": lambda: about_dialog(w),
        **{f"finding:{v}": (lambda _=False, v=v: finding_actions.record(w, v))
           for v in finding_actions.KEYS},
        "finding_dialog": lambda: finding_actions.finding_dialog(w),
        "export_findings": lambda: finding_actions.export_dialog(w),
        "performance_report": lambda: report_dialog.open_report(w),
        "calibrate_dialog": lambda: calibrate_dialog.open_calibrate(w),
        "shortcuts_dialog": lambda: shortcuts_dialog(w),
    }


def build(w: MainWindow) -> None:
    """Create the menu bar and window-wide shortcuts on ``w``."""
    handlers = _handlers(w)
    menus: dict[str, object] = {}
    for menu_name, text, keys, name in HOTKEYS:
        menu = menus.get(menu_name) or w.menuBar().addMenu(menu_name)
        menus[menu_name] = menu
        action = QAction(text, w)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(handlers.get(name) or getattr(w, name))
        menu.addAction(action)
        w.addAction(action)
    view = menus["&View"]
    view.addSeparator()
    keep = QAction("Keep window/level for the next film", w)
    keep.setCheckable(True)
    keep.setChecked(w.settings.keep_display_across_films)
    keep.toggled.connect(w.set_keep_display)
    w.keep_display_check.toggled.connect(keep.setChecked)
    view.addAction(keep)
    w.dark_action = QAction("Dark theme (reading room)", w)
    w.dark_action.setCheckable(True)
    w.dark_action.setChecked(w.settings.dark_theme)
    w.dark_action.toggled.connect(w.set_dark_theme)
    view.addAction(w.dark_action)
    presets = menus["&View"].addMenu("Window/level preset")
    from desktop.display_maths import PRESETS

    for i, (label, _c, _w) in enumerate(PRESETS, start=1):
        action = QAction(f"{i}  {label}", w)
        action.setShortcut(QKeySequence(str(i)))
        action.triggered.connect(lambda _=False, n=i: w.viewer.apply_preset(n))
        presets.addAction(action)
        w.addAction(action)
    finding_actions.install(w)  # right-click menus of the results table and the worklist


def key_table() -> list[shortcuts.KeyRow]:
    """Every key of the window from :data:`HOTKEYS` and the window/level presets, then the
    controls' own keys: the one table behind the menus, the shortcut page and the docs."""
    from desktop.display_maths import PRESETS

    rows = [(menu.replace("&", ""), " / ".join(keys), text.rstrip("…"))
            for menu, text, keys, _name in HOTKEYS if keys]
    rows += [("View", str(i), f"Window/level preset: {label}")
             for i, (label, _c, _w) in enumerate(PRESETS, start=1)]
    order = list(dict.fromkeys(m for m, _k, _a in rows))  # the menus' order, presets in View
    return sorted(rows, key=lambda r: order.index(r[0])) + shortcuts.CONTROL_KEYS


def shortcuts_dialog(w: MainWindow) -> shortcuts.ShortcutsDialog:
    d = shortcuts.ShortcutsDialog(key_table(), w)
    accessibility.name_controls(d)
    d.open()
    return d


def about_dialog(w: MainWindow) -> AboutDialog:
    d = AboutDialog(w.meta, w.threshold, w.model_error, w)
    accessibility.name_controls(d)
    d.open()
    return d


def first_start_dialog(w: MainWindow, force: bool = False) -> FirstStartDialog | None:
    """The intended-use notice: on first start (until confirmed) or from the Help menu."""
    if w.settings.first_start_acknowledged and not force:
        return None
    if getattr(w, "first_start", None) is not None and w.first_start.isVisible():
        return w.first_start  # already on screen (e.g. a second open before confirming)
    d = FirstStartDialog(w.meta, w)
    accessibility.name_controls(d)

    def done() -> None:
        w.settings.first_start_acknowledged = True
        w.settings.save()
        w.release_held_paths()

    d.accepted.connect(done)
    d.open()
    w.first_start = d
    return d


def audit_dialog(w: MainWindow) -> AuditDialog:
    d = AuditDialog(w.audit_db, w)
    accessibility.name_controls(d)
    d.open()
    return d


def threshold_dialog(w: MainWindow) -> ThresholdDialog | None:
    if not machine_actions.threshold_allowed(w):
        return None
    base = w.session.resolution.base  # the calibration's own point (model or site profile)
    d = ThresholdDialog(w.threshold, base.threshold, w, default_source=base.source)
    accessibility.name_controls(d)

    def done() -> None:
        w.apply_threshold(None if d.use_default else d.value())

    d.accepted.connect(done)
    d.open()
    return d


if __name__ == "__main__":  # the key table for docs/app.md
    import sys

    sys.stdout.write(shortcuts.markdown(key_table()) + "\n")
