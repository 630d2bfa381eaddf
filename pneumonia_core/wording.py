"""How thresholds and probabilities are written for people: short, but never misleading.

Four decimals are enough for every real operating point, but a threshold such as
0.9999999999999999 must not read "1.0000", and a probability just below its threshold must
not read as equal to it. These helpers add digits only when four would mislead.
"""

from __future__ import annotations

import math

DECIMALS = 4


def format_threshold(value: float, decimals: int = DECIMALS) -> str:
    """``value`` with ``decimals`` decimals, or exactly (shortest round-trip form) when the
    rounded text would reach 0 or 1, which a threshold strictly inside (0, 1) never is."""
    text = f"{value:.{decimals}f}"
    shown = float(text)
    if math.isfinite(value) and shown != value and shown in (0.0, 1.0):
        return repr(float(value))
    return text


def format_pair(probability: float, threshold: float, decimals: int = DECIMALS) -> tuple[str, str]:
    """``(probability, threshold)`` as text with just enough decimals that the texts compare
    as the numbers do (equal only when equal, the smaller one smaller); neither reads 0 or 1
    unless it is."""
    for d in range(decimals, 18):
        p, t = format_threshold(probability, d), format_threshold(threshold, d)
        fp, ft = float(p), float(t)
        if (fp == ft) == (probability == threshold) and (fp < ft) == (probability < threshold):
            return p, t
    return repr(float(probability)), repr(float(threshold))
