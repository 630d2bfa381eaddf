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


# -- item 7: accessible names, keyboard reach, the shortcut page, fonts ----------------------
def _dialogs(w):
    from desktop.qt import menus

    return [menus.about_dialog(w), menus.first_start_dialog(w, force=True),
            menus.audit_dialog(w), menus.threshold_dialog(w), menus.shortcuts_dialog(w)]


def test_every_control_that_takes_focus_has_an_accessible_name(qtbot):
    """setAccessibleName was nowhere: a screen reader announced bare 'button', 'edit'."""
    from desktop.qt.accessibility import takes_focus

    w = new_window(qtbot)
    roots = [w, *[d for d in _dialogs(w) if d is not None]]
    assert len(roots) == 6
    unnamed = [f"{type(x).__name__} in {type(root).__name__}"
               for root in roots for x in [root, *root.findChildren(QWidget)]
               if takes_focus(x) and not x.accessibleName().strip()]
    assert not unnamed, unnamed
    # the main controls also say what they do (and which key acts on them)
    for widget in (w.table, w.viewer, w.flagged.view, w.flagged.note_edit,
                   w.flagged.reviewed_button):
        assert widget.accessibleDescription().strip(), widget.accessibleName()
    assert "(R)" in w.flagged.reviewed_button.accessibleDescription()


def test_every_action_is_reachable_by_keyboard(qtbot):
    """Every menu action sits in a menu opened by Alt + its letter (mnemonics unique), and Tab
    from the viewer reaches every visible, enabled control of the window."""
    from PySide6.QtWidgets import QApplication

    w = new_window(qtbot)
    letters = []
    actions = 0
    for top in w.menuBar().actions():
        title = top.text()
        assert "&" in title, f"menu {title!r} has no Alt letter"
        letters.append(title[title.index("&") + 1].lower())
        menu = top.menu()
        stack = [menu]
        while stack:
            m = stack.pop()
            for a in m.actions():
                if a.menu() is not None:
                    stack.append(a.menu())
                elif not a.isSeparator():
                    assert a.text().strip()
                    actions += 1
    assert len(letters) == len(set(letters)), letters
    assert actions >= 25
    w.viewer.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is w.viewer, timeout=5000)
    seen = set()
    for _ in range(60):
        w.focusNextChild()
        seen.add(QApplication.focusWidget())
    controls = [x for kind in (QAbstractButton, QLineEdit, QComboBox)
                for x in w.findChildren(kind) if x.isVisibleTo(w) and x.isEnabled() and x.focusPolicy() != 0
                and x.window() is w]
    missed = [x.accessibleName() or type(x).__name__ for x in controls if x not in seen]
    assert not missed, missed
    assert w.table in seen and w.flagged.view in seen


def test_shortcut_page_and_docs_come_from_the_one_key_table(qtbot):
    from desktop.qt import menus, shortcuts
    from tests.conftest import ROOT

    w = new_window(qtbot)
    rows = menus.key_table()
    d = menus.shortcuts_dialog(w)
    page = d.text.toPlainText()
    for _menu, text, keys, _name in menus.HOTKEYS:  # every key of every menu is on the page
        for k in keys:
            assert k in page, (text, k)
    assert "Next pending film" in page and "Window/level preset" in page
    # The Help menu opens it with "?"; the Review menu's keys are the table's.
    assert w.keys()["Keyboard shortcuts…"].toString() == "?"
    review = {a.text(): a.shortcut().toString() for a in w.findChildren(type(w.dark_action))
              if a.text() in {t for m, t, _k, _n in menus.HOTKEYS if m == "&Review"}}
    assert review["Next pending film"] == "J" and review["Mark reviewed (film on screen)"] == "R"
    docs = (ROOT / "docs" / "app.md").read_text(encoding="utf-8")
    assert shortcuts.markdown(rows) in docs, (
        "docs/app.md's key table differs from the menus: paste the output of "
        "`python -m desktop.qt.menus` over it")


def test_fonts_follow_the_system_scale(qtbot):
    """No pixel font sizes; rows, the probability scale and the headline grow with the
    system font (a larger font no longer clips rows of a fixed 22 px)."""
    import re

    from PySide6.QtGui import QFont, QFontMetrics
    from PySide6.QtWidgets import QApplication

    from tests.conftest import ROOT

    for path in (ROOT / "desktop" / "qt").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"font-size|setPixelSize|setPointSize\(\s*\d", text), path.name
    app = QApplication.instance()
    normal = QFont(app.font())
    try:
        big = QFont(normal)
        big.setPointSizeF(normal.pointSizeF() * 2)
        app.setFont(big)
        w = new_window(qtbot)
        fm = w.table.fontMetrics()
        assert fm.height() > 1.6 * QFontMetrics(normal).height()
        assert w.table.verticalHeader().defaultSectionSize() > fm.height()
        assert w.flagged.view.verticalHeader().defaultSectionSize() > fm.height()
        assert w.result_panel.bar.minimumHeight() > 3 * fm.height()
        assert w.result_panel.prediction_label.font().pointSizeF() > big.pointSizeF()
    finally:
        app.setFont(normal)
