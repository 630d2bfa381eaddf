"""The window's saved size and place, kept on the screen it opens on.

A geometry saved at one display scale (e.g. 2100x1290 at 150 %) can be larger than the screen
at another, or lie on a monitor that is gone; restored as it is, the window's edges and its
controls would be off screen. :func:`clamp_to_screen` shrinks and moves the window into the
available geometry (the screen less task bars) of the screen it is on, else the primary one.
"""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget


def available_rect(window: QWidget) -> QRect | None:
    """The available geometry of the screen under the window's centre (else the window's
    own screen, else the primary one); None without a screen."""
    screen = (QGuiApplication.screenAt(window.frameGeometry().center())
              or window.screen() or QGuiApplication.primaryScreen())
    return None if screen is None else screen.availableGeometry()


def clamp_to_screen(window: QWidget) -> bool:
    """Fit ``window`` (frame included) into its screen's available geometry: smaller where it
    is larger, moved where it sticks out. Returns True when it was changed."""
    avail = available_rect(window)
    if avail is None or avail.isEmpty():
        return False
    frame, inner = window.frameGeometry(), window.geometry()
    extra_w = max(0, frame.width() - inner.width())  # window-manager borders and title bar
    extra_h = max(0, frame.height() - inner.height())
    width = min(inner.width(), avail.width() - extra_w)
    height = min(inner.height(), avail.height() - extra_h)
    changed = (width, height) != (inner.width(), inner.height())
    if changed:
        window.resize(max(width, 1), max(height, 1))
    frame = window.frameGeometry()
    x = min(max(frame.x(), avail.left()), avail.right() + 1 - frame.width())
    y = min(max(frame.y(), avail.top()), avail.bottom() + 1 - frame.height())
    if (x, y) != (frame.x(), frame.y()):
        window.move(x, y)
        changed = True
    return changed
