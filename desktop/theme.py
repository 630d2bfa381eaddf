"""Light (the platform's) and dark colour themes for a reading room; the choice is kept in
the settings. The dark theme is a Fusion-style palette, so white panels never glare."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_DARK = {
    QPalette.ColorRole.Window: (37, 37, 38),
    QPalette.ColorRole.WindowText: (220, 220, 220),
    QPalette.ColorRole.Base: (24, 24, 24),
    QPalette.ColorRole.AlternateBase: (45, 45, 48),
    QPalette.ColorRole.ToolTipBase: (50, 50, 50),
    QPalette.ColorRole.ToolTipText: (230, 230, 230),
    QPalette.ColorRole.Text: (220, 220, 220),
    QPalette.ColorRole.Button: (45, 45, 48),
    QPalette.ColorRole.ButtonText: (220, 220, 220),
    QPalette.ColorRole.BrightText: (255, 255, 255),
    QPalette.ColorRole.Highlight: (38, 79, 120),
    QPalette.ColorRole.HighlightedText: (255, 255, 255),
    QPalette.ColorRole.Link: (86, 180, 233),
    QPalette.ColorRole.PlaceholderText: (140, 140, 140),
    QPalette.ColorRole.Mid: (150, 150, 150),
}
_DISABLED = {
    QPalette.ColorRole.WindowText: (110, 110, 110),
    QPalette.ColorRole.Text: (110, 110, 110),
    QPalette.ColorRole.ButtonText: (110, 110, 110),
}

_light_palette: QPalette | None = None
_light_style: str | None = None


def dark_palette() -> QPalette:
    pal = QPalette()
    for role, rgb in _DARK.items():
        pal.setColor(role, QColor(*rgb))
    for role, rgb in _DISABLED.items():
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(*rgb))
    return pal


def apply_theme(dark: bool, app: QApplication | None = None) -> None:
    """Switch the whole application to the dark theme or back to the platform's own."""
    global _light_palette, _light_style
    app = app or QApplication.instance()
    if app is None:
        return
    if _light_palette is None:
        _light_palette = QPalette(app.palette())
        _light_style = app.style().name()
    if dark:
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    else:
        if _light_style:
            app.setStyle(_light_style)
        app.setPalette(_light_palette)


def is_dark(app: QApplication | None = None) -> bool:
    app = app or QApplication.instance()
    return app is not None and app.palette().color(QPalette.ColorRole.Window).lightness() < 110
