"""Issue 14, item 5: the heatmap only for flagged films, a perceptually uniform colour map
(inferno) with a legend, transparent below a floor, optional contour."""

from __future__ import annotations

import numpy as np
import pytest

from desktop import display_maths
from desktop.qt.viewer import ImageViewer


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(float) @ np.array([0.2126, 0.7152, 0.0722])


def test_colour_map_is_inferno_ordered_by_lightness():
    lut = display_maths.colormap_lut()
    assert lut.shape == (256, 3)
    lum = _luminance(lut)
    assert np.all(np.diff(lum) >= -0.5)  # monotone: reads in grey and for colour-blind eyes
    assert tuple(lut[0]) == (0, 0, 4) and tuple(lut[-1]) == (252, 255, 164)
    assert display_maths.COLORMAP_NAME == "inferno"


def test_weak_regions_are_fully_transparent_and_a_contour_can_be_added():
    cam = np.tile(np.linspace(0.0, 1.0, 14, dtype=np.float32), (14, 1))  # left cold, right hot
    rgba = display_maths.heatmap_rgba(cam, (140, 140), 1.0)
    v = np.clip(display_maths.upsample(display_maths.normalise_cam(cam), (140, 140)), 0, 1)
    assert rgba[..., 3][v <= display_maths.HEATMAP_FLOOR].max() == 0  # the lungs are not tinted
    assert rgba[..., 3][v > display_maths.HEATMAP_FLOOR + 0.05].min() > 0
    assert rgba[:, -1, 3].min() == 255  # the hottest column fully opaque at opacity 1
    plain = display_maths.heatmap_rgba(cam, (140, 140), 1.0, contour=False)
    lined = display_maths.heatmap_rgba(cam, (140, 140), 1.0, contour=True)
    changed = np.any(plain != lined, axis=2)
    cols = np.unique(np.nonzero(changed)[1])
    assert changed.any() and cols.size <= 3  # a thin line at the contour level
    level_col = int(np.argmin(np.abs(v[0] - display_maths.CONTOUR_LEVEL)))
    assert abs(int(cols.mean()) - level_col) <= 2
    legend = display_maths.legend_colours()
    assert legend.shape == (256, 3)
    assert _luminance(legend[:1])[0] < _luminance(legend[-1:])[0]


@pytest.fixture
def viewer(qtbot):
    v = ImageViewer()
    qtbot.addWidget(v)
    v.resize(500, 400)
    v.show()
    return v


def _colourful(v: ImageViewer, x0: int, x1: int, y0: int, y1: int) -> float:
    img = v.grab().toImage()
    px = [img.pixelColor(x, y) for x in range(x0, x1, 2) for y in range(y0, y1, 2)]
    return float(np.mean([abs(c.red() - c.blue()) for c in px]))


def test_normal_films_get_no_heatmap_and_flagged_films_a_legend(viewer):
    gray = np.full((300, 300), 90, np.uint8)
    cam = np.zeros((14, 14), np.float32)
    cam[4:9, 4:9] = 1.0
    viewer.set_image(gray, cam, heatmap_allowed=False)  # a NORMAL film
    viewer.set_heatmap_visible(True)
    assert viewer.overlay_rgba is None
    assert "flagged films only" in viewer.status_text()
    assert _colourful(viewer, 0, 500, 0, 400) < 1.0  # nothing coloured at all
    viewer.set_image(gray, cam, heatmap_allowed=True)  # a flagged film
    assert viewer.overlay_rgba is not None
    assert "inferno" in viewer.status_text()
    # the legend: a colour bar at the right edge
    assert _colourful(viewer, 500 - 24, 500 - 12, 42, 178) > 40


@pytest.mark.gui
@pytest.mark.usefixtures("home")
def test_window_shows_the_heatmap_only_on_flagged_films(qtbot, tmp_path, full_res_images):
    from tests.desktop.qt.app_helpers import copy_images, new_window

    w = new_window(qtbot, [copy_images(full_res_images[:6], tmp_path / "h")])
    w.set_heatmap(True)
    ok = [r for r in w.results.rows() if r.status == "ok"]
    assert ok
    for row in ok:
        w.show_path(row.path)
        qtbot.waitUntil(lambda r=row: w.shown_path == r.path, timeout=20_000)
        assert w.viewer.cam is not None
        assert (w.viewer.overlay_rgba is not None) == row.flagged, row
        assert ("flagged films only" in w.viewer.status_text()) == (not row.flagged)
