"""The site profile's two figures, drawn with Pillow's ImageDraw (the app has no matplotlib):
a reliability diagram (before and after the site calibration) and the ROC curve with the
model's and the site's operating points. Both return PNG bytes."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pneumonia_core import metrics

W, H = 720, 600
LEFT, RIGHT, TOP, BOTTOM = 100, 30, 60, 80
BEFORE = (217, 95, 2)
AFTER = (27, 94, 158)
GRID = (225, 225, 225)
INK = (30, 30, 30)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at ``size`` px, or its bitmap font where Pillow has no FreeType
    (the app bundle leaves FreeType out: build.spec)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _bitmap_scale(size: int) -> int:
    """The 11 px bitmap font is drawn twice as large for labels and titles."""
    return 1 if size < 16 else 2


def text_length(text: str, size: int) -> float:
    font = _font(size)
    if isinstance(font, ImageFont.FreeTypeFont):
        return font.getlength(text)
    return font.getbbox(text)[2] * _bitmap_scale(size)


def draw_text(img: Image.Image, xy: tuple[float, float], text: str, size: int,
              fill: tuple[int, int, int] | str = INK, anchor: str = "la") -> None:
    """Text with a two-letter anchor (l/m/r, a/m/d), also with the bitmap font."""
    font = _font(size)
    if isinstance(font, ImageFont.FreeTypeFont):
        ImageDraw.Draw(img).text(xy, text, fill=fill, font=font, anchor=anchor)
        return
    k = _bitmap_scale(size)
    _, _, w, h = font.getbbox(text)
    mask = Image.new("L", (max(1, w), max(1, h)), 0)
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font)
    mask = mask.resize((mask.width * k, mask.height * k), Image.Resampling.NEAREST)
    x = xy[0] - {"l": 0, "m": mask.width / 2, "r": mask.width}[anchor[0]]
    y = xy[1] - {"a": 0, "t": 0, "m": mask.height / 2, "d": mask.height}[anchor[1]]
    img.paste(Image.new("RGB", mask.size, fill), (round(x), round(y)), mask)


class _Axes:
    """A unit-square plot area with ticks, grid, labels and a title."""

    def __init__(self, title: str, xlabel: str, ylabel: str) -> None:
        self.img = Image.new("RGB", (W, H), "white")
        self.d = ImageDraw.Draw(self.img)
        self.x0, self.x1 = LEFT, W - RIGHT
        self.y0, self.y1 = H - BOTTOM, TOP
        small, tick, label, big = 14, 16, 17, 19
        self.small = small
        for i in range(6):
            v = i / 5
            x, y = self.px(v, 0)[0], self.px(0, v)[1]
            self.d.line([(x, self.y0), (x, self.y1)], fill=GRID)
            self.d.line([(self.x0, y), (self.x1, y)], fill=GRID)
            self.d.line([(x, self.y0), (x, self.y0 + 6)], fill=INK, width=2)
            self.d.line([(self.x0 - 6, y), (self.x0, y)], fill=INK, width=2)
            draw_text(self.img, (x, self.y0 + 9), f"{v:.1f}", tick, anchor="ma")
            draw_text(self.img, (self.x0 - 10, y), f"{v:.1f}", tick, anchor="rm")
        self.d.rectangle([self.x0, self.y1, self.x1, self.y0], outline=INK, width=2)
        draw_text(self.img, ((self.x0 + self.x1) / 2, H - 30), xlabel, label, anchor="mm")
        draw_text(self.img, (W / 2, 28), title, big, anchor="mm")
        # rotated y label
        tw = int(text_length(ylabel, label)) + 8
        tmp = Image.new("RGB", (tw, 26), "white")
        draw_text(tmp, (tw / 2, 13), ylabel, label, anchor="mm")
        rot = tmp.rotate(90, expand=True)
        self.img.paste(rot, (10, int((self.y0 + self.y1) / 2 - rot.height / 2)))

    def px(self, x: float, y: float) -> tuple[float, float]:
        return (self.x0 + x * (self.x1 - self.x0), self.y0 - y * (self.y0 - self.y1))

    def line(self, xs: Sequence[float], ys: Sequence[float], colour: tuple[int, int, int],
             width: int = 3) -> None:
        pts = [self.px(x, y) for x, y in zip(xs, ys, strict=True)]
        if len(pts) >= 2:
            self.d.line(pts, fill=colour, width=width, joint="curve")

    def dot(self, x: float, y: float, colour: tuple[int, int, int], r: int = 6) -> None:
        cx, cy = self.px(x, y)
        self.d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour, outline="white")

    def legend(self, entries: list[tuple[str, tuple[int, int, int]]], corner: str) -> None:
        font = self.small
        width = max(int(text_length(t, font)) for t, _ in entries) + 44
        height = 24 * len(entries) + 10
        x = self.x0 + 12 if corner == "left" else self.x1 - width - 12
        y = self.y1 + 12 if corner == "left" else self.y0 - height - 12
        self.d.rectangle([x, y, x + width, y + height], fill="white", outline=(160, 160, 160))
        for i, (text, colour) in enumerate(entries):
            cy = y + 17 + 24 * i
            self.d.line([(x + 8, cy), (x + 30, cy)], fill=colour, width=4)
            draw_text(self.img, (x + 36, cy), text, font, anchor="lm")

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.img.save(buf, format="PNG", optimize=True)
        return buf.getvalue()


def _bins(labels: np.ndarray, probs: np.ndarray, n_bins: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted, observed fraction, count) of the non-empty bins of
    :func:`pneumonia_core.metrics.reliability_bins` (the bins the ECE is computed on)."""
    bins = [b for b in metrics.reliability_bins(labels, probs, n_bins) if b["count"]]
    return (np.array([b["confidence"] for b in bins]), np.array([b["frequency"] for b in bins]),
            np.array([b["count"] for b in bins]))


def reliability_png(labels: np.ndarray, before: np.ndarray, after: np.ndarray,
                    ece_before: float, ece_after: float, n_bins: int = 10) -> bytes:
    ax = _Axes(f"Reliability on the site's films (n = {len(labels)}, {n_bins} bins)",
               "predicted P(pneumonia)", "observed fraction with pneumonia")
    ax.d.line([ax.px(0, 0), ax.px(1, 1)], fill=(150, 150, 150), width=2)
    for probs, colour in ((before, BEFORE), (after, AFTER)):
        conf, freq, count = _bins(labels, probs, n_bins)
        ax.line(conf, freq, colour)
        for c, f, n in zip(conf, freq, count, strict=True):
            ax.dot(c, f, colour, r=int(min(9, 3 + np.sqrt(n) / 2)))
    ax.legend([(f"model default (ECE {ece_before:.3f})", BEFORE),
               (f"site profile (ECE {ece_after:.3f})", AFTER),
               ("perfect calibration", (150, 150, 150))], "left")
    draw_text(ax.img, (ax.x0 + 14, ax.y1 + 100), "larger dot: more films in the bin", ax.small,
              fill=(110, 110, 110))
    return ax.png()


def roc_png(labels: np.ndarray, scores: np.ndarray, auc: float,
            before: tuple[float, float], after: tuple[float, float]) -> bytes:
    """ROC of ``scores`` (any monotone calibration gives the same curve) with the two
    operating points as (1 - specificity, sensitivity)."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    tps, fps = np.cumsum(ys), np.cumsum(~ys)
    last = np.r_[ss[1:] != ss[:-1], True]  # one point per distinct score
    tpr = np.r_[0.0, tps[last] / max(1, y.sum())]
    fpr = np.r_[0.0, fps[last] / max(1, (~y).sum())]
    ax = _Axes(f"ROC on the site's films (n = {len(y)}, AUC {auc:.3f})",
               "1 - specificity (false-positive rate)", "sensitivity (true-positive rate)")
    ax.d.line([ax.px(0, 0), ax.px(1, 1)], fill=(190, 190, 190), width=1)
    ax.line(fpr, tpr, (60, 60, 60), width=3)
    for (fx, ty), colour in ((before, BEFORE), (after, AFTER)):
        ax.dot(fx, ty, colour, r=8)
    ax.legend([("ROC curve", (60, 60, 60)),
               (f"model default: sens {before[1]:.3f}, spec {1 - before[0]:.3f}", BEFORE),
               (f"site profile: sens {after[1]:.3f}, spec {1 - after[0]:.3f}", AFTER)], "right")
    return ax.png()
