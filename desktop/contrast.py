"""Text contrast as WCAG 2.x defines it (Qt-free): relative luminance, the contrast ratio, and
the nearest colour of the same hue that meets a ratio on a given background.

AA asks 4.5:1 for normal text (3:1 for large text); the app holds all its text to 4.5:1 in both
themes (tests/desktop/qt/test_app_accessibility.py computes the ratios from the palette and
the style sheets). Colours that carry meaning (the Okabe-Ito finding colours) keep their hue
and are only darkened on a light background or lightened on a dark one, as far as needed.
"""

from __future__ import annotations

RGB = tuple[int, int, int]

#: WCAG 2.x level AA, normal text.
AA_TEXT = 4.5


def _channel(c: int) -> float:
    s = c / 255.0
    return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4


def relative_luminance(rgb: RGB) -> float:
    """WCAG relative luminance of an sRGB colour (0 black .. 1 white)."""
    r, g, b = (_channel(int(v)) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    """(L1 + 0.05) / (L2 + 0.05), the lighter over the darker: 1 .. 21."""
    la, lb = relative_luminance(a), relative_luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def readable_on(rgb: RGB, background: RGB, minimum: float = AA_TEXT) -> RGB:
    """``rgb`` itself when it reaches ``minimum`` on ``background``; else the least mix of it
    with black (on a light background) or white (on a dark one) that does."""
    if contrast_ratio(rgb, background) >= minimum:
        return tuple(int(v) for v in rgb[:3])  # type: ignore[return-value]
    target = 0 if relative_luminance(background) > 0.18 else 255
    for step in range(1, 101):
        k = step / 100.0
        mixed = tuple(round(v + (target - v) * k) for v in rgb[:3])
        if contrast_ratio(mixed, background) >= minimum:
            return mixed  # type: ignore[return-value]
    return (target, target, target)
