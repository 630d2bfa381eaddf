"""The image viewer: fit, zoom, pan, window/level (presets, drag, reset), invert and the
heatmap overlay. It only displays arrays decoded elsewhere (in a worker); the work done here
is a 256-entry lookup table per window change.

Mouse: wheel zooms at the cursor, left drag pans, right drag changes window (horizontal:
width, vertical: level). Keys are bound by the main window (OHIF-style, see ``HOTKEYS``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop import display_maths

ZOOM_STEP = 1.25
OVERLAY_MAX_SIDE = 512
#: The heatmap legend's colour bar width and the padding of its strip (pixels).
LEGEND_BAR_W, LEGEND_PAD = 12, 8
MIN_ZOOM, MAX_ZOOM = 0.05, 40.0


def gray_qimage(gray: np.ndarray) -> QImage:
    """A deep-copied Grayscale8 QImage of a (H, W) uint8 array."""
    a = np.ascontiguousarray(gray, dtype=np.uint8)
    h, w = a.shape
    return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8).copy()


def draw_boxed_text(p: QPainter, lines: list[str], x: int, y: int, top: bool) -> None:
    """White text on a translucent black box: readable over any part of a film. ``y`` is
    the box's top (``top``) or bottom edge."""
    fm = p.fontMetrics()
    pad = 4
    h = fm.height() * len(lines) + 2 * pad
    w = max(fm.horizontalAdvance(t) for t in lines) + 2 * pad
    y0 = y if top else y - h
    p.fillRect(QRectF(x, y0, w, h), QColor(0, 0, 0, 170))
    p.setPen(QColor(255, 255, 255))
    for i, t in enumerate(lines):
        p.drawText(x + pad, y0 + pad + fm.ascent() + i * fm.height(), t)


def rgba_qimage(rgba: np.ndarray) -> QImage:
    a = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w, _ = a.shape
    return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_RGBA8888).copy()


class ImageViewer(QWidget):
    """Shows one 8-bit grey image with display transforms; emits ``view_changed``."""

    view_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 200)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(False)
        self._pixels: np.ndarray | None = None
        self._image: QImage | None = None
        self._cam: np.ndarray | None = None
        self._overlay: QImage | None = None
        self._overlay_rgba: np.ndarray | None = None
        self._message = "Open X-ray images or a folder (File menu, drag and drop, or the command line)."
        self.centre, self.width_ = display_maths.DEFAULT_WINDOW
        self.inverted = False
        self.heatmap_visible = False
        self.heatmap_opacity = 0.45
        #: The heatmap is drawn only for flagged films (set per film by the window); for
        #: others the overlay says so instead of colouring a NORMAL film.
        self.heatmap_allowed = True
        self.heatmap_contour = False
        self.zoom = 1.0
        self.fit_mode = True
        #: Keep window/level and invert for the next film (else each film starts reset).
        self.keep_display = False
        #: Stored values (e.g. DICOM, after the modality LUT) shown as display 0 and 255:
        #: window/level is reported in these units. None: 8-bit display units.
        self.value_range: tuple[float, float] | None = None
        #: Lines drawn at the top left over the film (DICOM patient, study date, view).
        self.info_lines: list[str] = []
        self._offset = QPointF(0, 0)  # image top-left in widget coordinates
        self._drag_start: QPointF | None = None
        self._drag_button = Qt.MouseButton.NoButton
        self._drag_origin = (0.0, 0.0, QPointF())

    # -- content -------------------------------------------------------------------------
    @property
    def pixels(self) -> np.ndarray | None:
        return self._pixels

    @property
    def cam(self) -> np.ndarray | None:
        return self._cam

    @property
    def overlay_rgba(self) -> np.ndarray | None:
        """The RGBA heatmap (at full opacity, at most ``OVERLAY_MAX_SIDE`` pixels on its long
        side, same aspect as the image) drawn over the whole image with
        ``heatmap_opacity``; None when hidden or not allowed for this film."""
        return self._overlay_rgba if self.heatmap_shown() else None

    def heatmap_shown(self) -> bool:
        return self.heatmap_visible and self.heatmap_allowed and self._cam is not None

    def set_heatmap_contour(self, on: bool) -> None:
        self.heatmap_contour = bool(on)
        self._overlay = None
        self._overlay_rgba = None
        self._render_overlay()
        self.update()

    def set_image(self, pixels: np.ndarray | None, cam: np.ndarray | None = None,
                  message: str = "", value_range: tuple[float, float] | None = None,
                  info_lines: list[str] | None = None, heatmap_allowed: bool = True) -> None:
        """Show a new image, fitted. Window/level and invert are reset to the full range
        unless :attr:`keep_display` is set (then the overlay says they were kept)."""
        self._pixels = pixels
        self._cam = cam
        self._message = message
        self.value_range = value_range
        self.info_lines = list(info_lines or [])
        self.heatmap_allowed = heatmap_allowed
        if not self.keep_display:
            self.centre, self.width_ = display_maths.DEFAULT_WINDOW
            self.inverted = False
        self._overlay = None
        self._overlay_rgba = None
        self._render()
        self.fit()

    def set_message(self, message: str) -> None:
        self._message = message
        self.update()

    def set_cam(self, cam: np.ndarray | None) -> None:
        self._cam = cam
        self._overlay = None
        self._overlay_rgba = None
        self._render_overlay()
        self.update()

    # -- display transforms ----------------------------------------------------------------
    def set_window(self, centre: float, width: float) -> None:
        self.centre, self.width_ = float(centre), max(1.0, float(width))
        self._render()
        self.update()
        self.view_changed.emit()

    def apply_preset(self, n: int) -> None:
        """Presets 1-5 (``display_maths.PRESETS``)."""
        if 1 <= n <= len(display_maths.PRESETS):
            _, c, w = display_maths.PRESETS[n - 1]
            self.set_window(c, w)

    def reset_view(self) -> None:
        """Full window, not inverted, fit."""
        self.inverted = False
        self.set_window(*display_maths.DEFAULT_WINDOW)
        self.fit()

    def toggle_invert(self) -> None:
        self.inverted = not self.inverted
        self._render()
        self.update()
        self.view_changed.emit()

    def set_heatmap_visible(self, visible: bool) -> None:
        self.heatmap_visible = bool(visible)
        self._render_overlay()
        if self.fit_mode:  # the legend's strip takes (or gives back) room beside the film
            self.zoom = self._fit_zoom()
            self._centre_image()
        self.update()
        self.view_changed.emit()

    def set_heatmap_opacity(self, opacity: float) -> None:
        """Applied by the painter: no recomputation, so a slider drag stays smooth."""
        self.heatmap_opacity = float(np.clip(opacity, 0.0, 1.0))
        self.update()

    def displayed_pixels(self) -> np.ndarray | None:
        """The grey values shown (after window/level and invert)."""
        if self._pixels is None:
            return None
        return display_maths.apply_window(self._pixels, self.centre, self.width_, self.inverted)

    def _render(self) -> None:
        shown = self.displayed_pixels()
        self._image = None if shown is None else gray_qimage(shown)
        self._render_overlay()

    def _render_overlay(self) -> None:
        if not self.heatmap_visible or self._cam is None or self._pixels is None:
            return
        if self._overlay is None:
            # The CAM is coarse (e.g. 14x14): a small overlay, smoothly scaled by the
            # painter, looks the same as a full-size one and costs a few milliseconds.
            h, w = self._pixels.shape
            k = min(1.0, OVERLAY_MAX_SIDE / max(h, w))
            shape = (max(1, round(h * k)), max(1, round(w * k)))
            self._overlay_rgba = display_maths.heatmap_rgba(self._cam, shape, 1.0,
                                                      contour=self.heatmap_contour)
            self._overlay = rgba_qimage(self._overlay_rgba)

    # -- zoom and pan ----------------------------------------------------------------------
    def _legend_lines(self) -> list[str]:
        return ["model", "attention", "(relative,", "this film)"]

    def legend_width(self) -> int:
        """Width of the strip at the right that holds the heatmap legend, from the font."""
        fm = self.fontMetrics()
        labels = max(fm.horizontalAdvance(t) for t in ("high", "low"))
        text = max(fm.horizontalAdvance(t) for t in self._legend_lines())
        return max(text, labels + 6 + LEGEND_BAR_W) + 2 * LEGEND_PAD

    def legend_rect(self) -> QRectF:
        """The legend's strip beside the film (empty when the heatmap is not shown): the
        legend never covers the film's corner."""
        if not (self.heatmap_shown() and self._image is not None):
            return QRectF()
        lw = self.legend_width()
        return QRectF(self.width() - lw, 0, lw, self.height())

    def film_area(self) -> QRectF:
        """Where the film is drawn and fitted: the widget less the legend's strip."""
        return QRectF(0, 0, self.width() - self.legend_rect().width(), self.height())

    def _fit_zoom(self) -> float:
        if self._image is None:
            return 1.0
        w, h = self._image.width(), self._image.height()
        area = self.film_area()
        return max(MIN_ZOOM, min(area.width() / w, area.height() / h))

    def fit(self) -> None:
        self.fit_mode = True
        self.zoom = self._fit_zoom()
        self._centre_image()
        self.update()
        self.view_changed.emit()

    def _centre_image(self) -> None:
        if self._image is None:
            return
        area = self.film_area()
        self._offset = QPointF((area.width() - self._image.width() * self.zoom) / 2,
                               (area.height() - self._image.height() * self.zoom) / 2)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        if self._image is None:
            return
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        new = float(np.clip(self.zoom * factor, MIN_ZOOM, MAX_ZOOM))
        # keep the image point under the anchor fixed
        img_pt = (anchor - self._offset) / self.zoom
        self.zoom = new
        self._offset = anchor - img_pt * new
        self.fit_mode = False
        self.update()
        self.view_changed.emit()

    def pan_by(self, dx: float, dy: float) -> None:
        self._offset += QPointF(dx, dy)
        self.fit_mode = False
        self.update()

    def image_rect(self) -> QRectF:
        if self._image is None:
            return QRectF()
        return QRectF(self._offset.x(), self._offset.y(),
                      self._image.width() * self.zoom, self._image.height() * self.zoom)

    # -- Qt events -------------------------------------------------------------------------
    def resizeEvent(self, event: object) -> None:  # noqa: N802
        if self.fit_mode:
            self.zoom = self._fit_zoom()
            self._centre_image()
        super().resizeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(16, 16, 16))
        if self._image is None:
            p.setPen(QColor(200, 200, 200))
            p.drawText(self.rect().adjusted(20, 20, -20, -20),
                       int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                       self._message)
            p.end()
            return
        if self.fit_mode and abs(self.zoom - self._fit_zoom()) > 1e-9:
            self.zoom = self._fit_zoom()  # the legend's strip came or went (e.g. new film)
            self._centre_image()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 4)
        target = self.image_rect()
        p.save()
        p.setClipRect(self.film_area())  # zoomed in, the film still stops at the legend
        p.drawImage(target, self._image)
        if self.heatmap_shown() and self._overlay is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.setOpacity(self.heatmap_opacity)
            p.drawImage(target, self._overlay)
            p.setOpacity(1.0)
        p.restore()
        if self.heatmap_shown() and self._overlay is not None:
            self._draw_legend(p)
        if self.info_lines:
            draw_boxed_text(p, self.info_lines, 8, 8, top=True)
        draw_boxed_text(p, [self.status_text()], 8, self.height() - 8, top=False)
        p.end()

    def window_in_units(self) -> tuple[float, float, str]:
        """(width, level, unit name): in the image's stored units when known (DICOM),
        else in 8-bit display units."""
        if self.value_range is None:
            return self.width_, self.centre, ""
        lo, hi = self.value_range
        scale = (hi - lo) / 255.0
        return abs(self.width_ * scale), lo + self.centre * scale, " (stored values)"

    def is_default_display(self) -> bool:
        return (not self.inverted
                and (self.centre, self.width_) == tuple(display_maths.DEFAULT_WINDOW))

    def status_text(self) -> str:
        """The bottom-left overlay: window/level, zoom, invert, heatmap."""
        w, level, units = self.window_in_units()
        label = f"W {w:.0f}  L {level:.0f}{units}  {self.zoom * 100:.0f}%"
        if self.inverted:
            label += "  inverted"
        if self.keep_display and not self.is_default_display():
            label += "  (W/L kept from previous film)"
        if self.heatmap_visible:
            if self._cam is None:
                label += "  heatmap: not available"
            elif not self.heatmap_allowed:
                label += "  heatmap: shown for flagged films only"
            else:
                label += f"  heatmap ({display_maths.COLORMAP_NAME})"
        return label

    def _draw_legend(self, p: QPainter) -> None:
        """Colour bar in its strip beside the film: what the heatmap colours mean
        (relative, per film)."""
        cols = display_maths.legend_colours()
        strip = self.legend_rect()
        fm = p.fontMetrics()
        p.fillRect(strip, QColor(0, 0, 0))
        p.setPen(QColor(255, 255, 255))
        y = strip.top() + LEGEND_PAD
        for t in self._legend_lines():
            p.drawText(int(strip.left() + LEGEND_PAD), int(y + fm.ascent()), t)
            y += fm.height()
        y += LEGEND_PAD
        bar_h = max(40.0, min(140.0, strip.bottom() - y - 60))
        x = strip.right() - LEGEND_PAD - LEGEND_BAR_W
        colours = np.ascontiguousarray(
            np.repeat(cols[::-1][:, None, :], LEGEND_BAR_W, axis=1))  # high at the top
        rgba = np.concatenate([colours, np.full((*colours.shape[:2], 1), 255, np.uint8)],
                              axis=2)
        p.drawImage(QRectF(x, y, LEGEND_BAR_W, bar_h), rgba_qimage(rgba))
        p.drawText(int(x - fm.horizontalAdvance("high") - 6), int(y + fm.ascent()), "high")
        p.drawText(int(x - fm.horizontalAdvance("low") - 6), int(y + bar_h), "low")

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP ** steps, event.position())

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._drag_start = event.position()
        self._drag_button = event.button()
        self._drag_origin = (self.centre, self.width_, QPointF(self._offset))
        self.setFocus()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag_start is None:
            return
        d = event.position() - self._drag_start
        c0, w0, off0 = self._drag_origin
        if self._drag_button == Qt.MouseButton.RightButton:
            self.set_window(c0 + d.y(), w0 + d.x())
        elif self._drag_button == Qt.MouseButton.LeftButton:
            self._offset = off0 + d
            self.fit_mode = False
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._drag_start = None
        self._drag_button = Qt.MouseButton.NoButton

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.fit()
