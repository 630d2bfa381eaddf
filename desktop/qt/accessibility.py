"""Accessible names and descriptions for screen readers and other assistive technology.

Every control that takes keyboard focus gets a name (what it is) and, where the name alone does
not say it, a description (what it does, which key acts on it). The main window's controls are
named in :data:`MAIN_WINDOW`; every other control (dialogs, controls added later) gets its name
from what a sighted user reads on it: its text, its placeholder, its tooltip
(:func:`name_controls`). tests/desktop/qt/test_app_accessibility.py walks every widget of the
window and its dialogs that takes focus and asserts a name.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

#: (attribute path on the main window, accessible name, description).
MAIN_WINDOW: list[tuple[str, str, str]] = [
    ("table", "Results", "Every file opened: probability, finding, status; arrows select, "
     "Enter shows the film in the viewer"),
    ("results_filter.search", "Search results", "Every word must occur in the file, folder "
     "or patient"),
    ("results_filter.combo", "Results filter", "All, flagged, not flagged, could not assess, "
     "latest batch"),
    ("cancel_button", "Cancel classification", "Stops the running classification (Esc)"),
    ("viewer", "X-ray viewer", "The film on screen: + and - zoom, = fit, I invert, 1 to 5 "
     "window/level presets, 0 reset, H heatmap"),
    ("heatmap_button", "Heatmap overlay", "Where the model looked, for flagged films (H)"),
    ("contour_button", "Heatmap contour", "Outline the strongest heatmap region"),
    ("opacity_slider", "Heatmap opacity", "0 to 100 percent"),
    ("keep_display_check", "Keep window and level for the next film", ""),
    ("result_scroll", "Result", "The selected film's probability, finding and the model"),
    ("flagged.view", "Worklist", "Flagged films, unassessed first then most likely: J and K "
     "next and previous pending, R reviewed, D dismiss, O reopen"),
    ("flagged.filter_bar.search", "Search the worklist", "Every word must occur in the file, "
     "patient, note or reviewer (Ctrl+F)"),
    ("flagged.filter_bar.combo", "Worklist filter", "Worklist, pending, reviewed, dismissed, "
     "archived, all"),
    ("flagged.folder_combo", "Batch folder", "The folders the flagged films came from"),
    ("flagged.archive_button", "Archive batch", "Hide a finished folder from the worklist"),
    ("flagged.note_edit", "Review note", "Saved with the mark; Enter marks reviewed (N)"),
    ("flagged.reviewed_button", "Mark reviewed", "The film on screen (R)"),
    ("flagged.dismiss_button", "Dismiss", "The film on screen (D)"),
    ("flagged.reopen_button", "Reopen", "Back to pending (O)"),
    ("flagged.export_button", "Export flagged list as CSV", "Ctrl+E"),
    ("flagged.advance_check", "Auto-advance", "After a mark, show the next pending film"),
]


def _resolve(root: object, path: str) -> QWidget | None:
    node = root
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return node if isinstance(node, QWidget) else None


def describe_main_window(w: QWidget) -> None:
    """Name the main window's controls (:data:`MAIN_WINDOW`), then the rest as in
    :func:`name_controls`."""
    for path, name, description in MAIN_WINDOW:
        widget = _resolve(w, path)
        if widget is not None:
            widget.setAccessibleName(name)
            if description:
                widget.setAccessibleDescription(description)
    name_controls(w)


def takes_focus(widget: QWidget) -> bool:
    """Whether the widget can get keyboard focus (by Tab or by a click)."""
    return widget.focusPolicy() != Qt.FocusPolicy.NoFocus


def derived_name(widget: QWidget) -> str:
    """What a sighted user reads on the control: its text, placeholder, tooltip's first
    line, or window title; '' when none."""
    for attr in ("text", "placeholderText", "windowTitle"):
        getter = getattr(widget, attr, None)
        value = getter() if callable(getter) else ""
        if isinstance(value, str) and value.strip():
            return value.replace("&", "").strip().rstrip("…").strip()
    tip = widget.toolTip().strip()
    return tip.splitlines()[0] if tip else ""


def name_controls(root: QWidget) -> list[QWidget]:
    """Give every focus-taking widget under ``root`` without an accessible name the one it
    shows (:func:`derived_name`); its tooltip becomes its description. Returns the widgets
    still without a name (nothing to derive one from)."""
    unnamed = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not takes_focus(widget) or widget.accessibleName():
            continue
        name = derived_name(widget)
        node = widget.parentWidget()
        while not name and node is not None:  # e.g. a combo box's list, a dialog's text
            name = node.accessibleName() or derived_name(node)
            node = node.parentWidget()
        if name:
            widget.setAccessibleName(name)
            tip = widget.toolTip().strip()
            if tip and not widget.accessibleDescription():
                widget.setAccessibleDescription(tip)
        else:
            unnamed.append(widget)
    return unnamed
