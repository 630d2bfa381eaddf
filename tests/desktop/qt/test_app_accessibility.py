"""Issue 25: contrast, accessible names, keyboard reach and the shortcut page (pytest-qt,
offscreen)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QWidget,
)

from desktop.contrast import AA_TEXT, contrast_ratio
from tests.desktop.qt.app_helpers import new_window

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("home")]


def _rgb(c: QColor) -> tuple[int, int, int]:
    return (c.red(), c.green(), c.blue())


def _background(w: QWidget) -> QColor:
    """The colour behind ``w``: its own when it paints its background (or a style sheet
    gives one), else the nearest ancestor's that does, else the window's."""
    node: QWidget | None = w
    while node is not None:
        if node.autoFillBackground() or "background" in node.styleSheet():
            return node.palette().color(node.backgroundRole())
        node = node.parentWidget()
    return w.window().palette().color(QPalette.ColorRole.Window)


def text_pairs(root: QWidget) -> list[tuple[str, tuple, tuple]]:
    """(what, text colour, background colour) for every enabled, visible text of ``root``:
    labels, buttons, line edits (text and placeholder), combo boxes and the item views' text
    with every foreground colour their models give (findings, reviewed entries). Disabled
    controls are exempt in WCAG 2.x (1.4.3, 'inactive user interface components')."""
    pairs = []
    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisibleTo(root) or not w.isEnabled():
            continue
        w.ensurePolished()
        pal = w.palette()
        name = f"{type(w).__name__} {w.objectName() or getattr(w, 'text', lambda: '')()!r}"[:80]
        if isinstance(w, QLabel) and w.text():
            pairs.append((name, _rgb(pal.color(w.foregroundRole())), _rgb(_background(w))))
        elif isinstance(w, QAbstractButton | QComboBox):
            pairs.append((name, _rgb(pal.color(QPalette.ColorRole.ButtonText)),
                          _rgb(pal.color(QPalette.ColorRole.Button))))
        elif isinstance(w, QLineEdit):
            base = _rgb(pal.color(QPalette.ColorRole.Base))
            pairs.append((name, _rgb(pal.color(QPalette.ColorRole.Text)), base))
            if w.placeholderText():
                pairs.append((name + " placeholder",
                              _rgb(pal.color(QPalette.ColorRole.PlaceholderText)), base))
        elif (isinstance(w, QAbstractItemView) and not isinstance(w, QHeaderView)
              and w.model() is not None):
            base = _rgb(pal.color(QPalette.ColorRole.Base))
            alt = _rgb(pal.color(QPalette.ColorRole.AlternateBase))
            pairs.append((name, _rgb(pal.color(QPalette.ColorRole.Text)), base))
            m = w.model()
            for r in range(m.rowCount()):
                for c in range(m.columnCount()):
                    brush = m.index(r, c).data(9)  # Qt.ItemDataRole.ForegroundRole
                    if brush is not None:
                        rgb = _rgb(brush.color())
                        pairs.append((f"{name} row {r} col {c}", rgb, base))
                        if w.alternatingRowColors():
                            pairs.append((f"{name} row {r} col {c} (alt)", rgb, alt))
    return pairs


def _low(root: QWidget) -> list[str]:
    return [f"{what}: {contrast_ratio(fg, bg):.2f}:1 ({fg} on {bg})"
            for what, fg, bg in text_pairs(root) if contrast_ratio(fg, bg) < AA_TEXT]


@pytest.mark.parametrize("dark", [False, True])
def test_every_text_meets_wcag_aa_in_both_themes(qtbot, tmp_path, full_res_images, dark):
    """The dark theme's 'Worklist: N pending of M flagged' was black on dark grey (1.4:1)."""
    folder = tmp_path / "study"
    folder.mkdir()
    for p in full_res_images[:3] + full_res_images[-3:]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.jpeg").write_bytes(b"\xff\xd8\xff truncated")
    w = new_window(qtbot, [folder])
    w.set_review(w.flagged.model.entries()[-1], "reviewed", "")  # a dimmed (reviewed) row
    w.set_dark_theme(dark)
    qtbot.wait(50)
    low = _low(w)
    assert not low, "\n".join(low)
    title = w.flagged.title
    ratio = contrast_ratio(_rgb(title.palette().color(title.foregroundRole())),
                           _rgb(_background(title)))
    assert ratio >= AA_TEXT
    w.set_dark_theme(False)


def test_dark_theme_saved_from_the_last_session_has_a_readable_worklist_heading(qtbot):
    """The trial's case: dark theme chosen, app restarted: the heading 'Worklist: N pending of
    M flagged' kept the light theme's black text on the dark panel (about 1.4:1)."""
    from desktop.settings import Settings

    Settings(first_start_acknowledged=True, dark_theme=True).save()
    w = new_window(qtbot)
    qtbot.wait(100)  # the palette change reaches the widgets through the event loop
    try:
        title = w.flagged.title
        fg = _rgb(title.palette().color(title.foregroundRole()))
        assert contrast_ratio(fg, _rgb(_background(title))) >= AA_TEXT
        low = _low(w)
        assert not low, "\n".join(low)
    finally:
        w.set_dark_theme(False)
