"""The site profile's two figures, drawn with Pillow's ImageDraw (the app has no matplotlib):
a reliability diagram (before and after the site calibration) and the ROC curve with the
model's and the site's operating points. Both return PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pneumonia_core import metrics

W, H = 720, 600
LEFT, RIGHT, TOP, BOTTOM = 80, 30, 60, 80
BEFORE = (217, 95, 2)
AFTER = (27, 94, 158)
GRID = (225, 225, 225)
INK = (30, 30, 30)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


class _Axes:
    """A unit-square plot area with ticks, grid, labels and a title."""

    def __init__(self, title: str, xlabel: str, ylabel: str) -> None:
        self.img = Image.new("RGB", (W, H), "white")
        self.d = ImageDraw.Draw(self.img)
        self.x0, self.x1 = LEFT, W - RIGHT
        self.y0, self.y1 = H - BOTTOM, TOP
        small, label, big = _font(14), _font(16), _font(19)
        self.small = small
        for i in range(6):
            v = i / 5
            x, y = self.px(v, 0)[0], self.px(0, v)[1]
            self.d.line([(x, self.y0), (x, self.y1)], fill=GRID)
            self.d.line([(self.x0, y), (self.x1, y)], fill=GRID)
            self.d.line([(x, self.y0), (x, self.y0 + 6)], fill=INK, width=2)
            self.d.line([(self.x0 - 6, y), (self.x0, y)], fill=INK, width=2)
            self.d.text((x, self.y0 + 9), f"{v:.1f}", fill=INK, font=small, anchor="ma")
            self.d.text((self.x0 - 10, y), f"{v:.1f}", fill=INK, font=small, anchor="rm")
        self.d.rectangle([self.x0, self.y1, self.x1, self.y0], outline=INK, width=2)
        self.d.text(((self.x0 + self.x1) / 2, H - 30), xlabel, fill=INK, font=label, anchor="mm")
        self.d.text((W / 2, 28), title, fill=INK, font=big, anchor="mm")
        # rotated y label
        tw = int(self.d.textlength(ylabel, font=label)) + 8
        tmp = Image.new("RGB", (tw, 24), "white")
        ImageDraw.Draw(tmp).text((tw / 2, 12), ylabel, fill=INK, font=label, anchor="mm")
        rot = tmp.rotate(90, expand=True)
        self.img.paste(rot, (14, int((self.y0 + self.y1) / 2 - rot.height / 2)))

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
        width = max(int(self.d.textlength(t, font=font)) for t, _ in entries) + 44
        height = 24 * len(entries) + 10
        x = self.x0 + 12 if corner == "left" else self.x1 - width - 12
        y = self.y1 + 12 if corner == "left" else self.y0 - height - 12
        self.d.rectangle([x, y, x + width, y + height], fill="white", outline=(160, 160, 160))
        for i, (text, colour) in enumerate(entries):
            cy = y + 17 + 24 * i
            self.d.line([(x + 8, cy), (x + 30, cy)], fill=colour, width=4)
            self.d.text((x + 36, cy), text, fill=INK, font=font, anchor="lm")

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
    ax.d.text((ax.x0 + 14, ax.y1 + 100), "larger dot: more films in the bin",
              fill=(110, 110, 110), font=ax.small, anchor="la")
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
