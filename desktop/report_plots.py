"""The local performance report's plots (:mod:`desktop.report`), drawn with Pillow like the
site profile's (:mod:`pneumonia_core.site_plots`; the app has no plotting library): the rates
with their exact intervals, and P(pneumonia) per week (drift). Each returns PNG bytes. Qt-free.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

from pneumonia_core.site_plots import AFTER, BEFORE, GRID, INK, draw_text

if TYPE_CHECKING:
    from desktop.report import Report

W, H = 760, 420
LEFT, RIGHT, TOP, BOTTOM = 230, 40, 60, 70


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _frame(title: str, left: int = LEFT) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    draw_text(img, (W / 2, 26), title, 19, anchor="mm")
    d.rectangle([left, TOP, W - RIGHT, H - BOTTOM], outline=INK, width=2)
    return img, d


def rates_png(report: Report) -> bytes:
    """One row per rate: the value as a dot, its exact 95% interval as a bar (0-100%)."""
    rows = [("agreement", report.agreement, AFTER), ("sensitivity", report.sensitivity, AFTER),
            ("specificity", report.specificity, AFTER),
            ("refused by the guard", report.refused_rate, BEFORE),
            ("outside intended use", report.outside_use_rate, BEFORE)]
    img, d = _frame("Rates with exact 95% intervals")
    x0, x1 = LEFT, W - RIGHT

    def px(v: float) -> float:
        return x0 + v * (x1 - x0)

    for i in range(6):
        x = px(i / 5)
        d.line([(x, TOP), (x, H - BOTTOM)], fill=GRID)
        draw_text(img, (x, H - BOTTOM + 8), f"{20 * i}%", 15, anchor="ma")
    draw_text(img, ((x0 + x1) / 2, H - 24), "share of films (dot: measured; bar: 95% interval)",
              16, anchor="mm")
    step = (H - BOTTOM - TOP) / len(rows)
    for k, (name, rate, colour) in enumerate(rows):
        y = TOP + step * (k + 0.5)
        draw_text(img, (x0 - 10, y - 8), name, 16, anchor="rm")
        draw_text(img, (x0 - 10, y + 10), f"{rate.k} of {rate.n}", 14, fill=(110, 110, 110),
                  anchor="rm")
        if not rate.n:
            draw_text(img, (x0 + 10, y), "no films", 15, fill=(110, 110, 110), anchor="lm")
            continue
        lo, hi = rate.interval
        d.line([(px(lo), y), (px(hi), y)], fill=colour, width=5)
        for v in (lo, hi):
            d.line([(px(v), y - 8), (px(v), y + 8)], fill=colour, width=2)
        cx = px(rate.value)
        d.ellipse([cx - 7, y - 7, cx + 7, y + 7], fill=colour, outline="white")
    return _png(img)


def weekly_png(report: Report) -> bytes:
    """P(pneumonia) per ISO week: box (25-75%), whiskers (5-95%), median, and the share
    flagged as a dot; the threshold(s) as dashed lines."""
    weeks = report.weeks
    left = 80
    img, d = _frame(f"P(pneumonia) per week ({sum(w.n for w in weeks)} films)", left)
    x0, x1, y0, y1 = left, W - RIGHT, H - BOTTOM, TOP

    def py(v: float) -> float:
        return y0 - v * (y0 - y1)

    for i in range(6):
        y = py(i / 5)
        d.line([(x0, y), (x1, y)], fill=GRID)
        draw_text(img, (x0 - 8, y), f"{20 * i}%", 15, anchor="rm")
    for t in report.thresholds:
        y = py(t)
        for xs in range(int(x0), int(x1), 14):
            d.line([(xs, y), (min(xs + 7, x1), y)], fill=(179, 38, 30), width=2)
    if not weeks:
        draw_text(img, ((x0 + x1) / 2, (y0 + y1) / 2), "no film classified in the period", 16,
                  anchor="mm")
        return _png(img)
    slot = (x1 - x0) / len(weeks)
    every = max(1, math.ceil(len(weeks) / 10))  # at most 10 week labels
    half = max(3.0, min(24.0, slot * 0.3))
    for i, w in enumerate(weeks):
        cx = x0 + slot * (i + 0.5)
        q05, q25, q50, q75, q95 = w.quantiles()
        d.line([(cx, py(q05)), (cx, py(q95))], fill=INK, width=2)
        d.rectangle([cx - half, py(q75), cx + half, py(q25)], fill=(198, 219, 239), outline=AFTER,
                    width=2)
        d.line([(cx - half, py(q50)), (cx + half, py(q50))], fill=INK, width=3)
        share = w.flagged / w.n if w.n else 0.0
        d.ellipse([cx - 5, py(share) - 5, cx + 5, py(share) + 5], fill=BEFORE, outline="white")
        if i % every == 0:
            draw_text(img, (cx, y0 + 8), w.week[2:], 14, anchor="ma")
            draw_text(img, (cx, y0 + 26), f"n={w.n}", 13, fill=(110, 110, 110), anchor="ma")
    draw_text(img, ((x0 + x1) / 2, H - 18), "week; box: middle half of P, whiskers 5-95%, "
              "line: median; orange dot: share flagged; red dashes: threshold", 13, anchor="mm")
    return _png(img)


def plots(report: Report) -> dict[str, bytes]:
    """The report's plots by name, in the order they are shown."""
    return {"rates": rates_png(report), "weekly": weekly_png(report)}
