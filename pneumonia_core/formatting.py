"""The ONE way probabilities and the decision threshold are written for people (Qt-free).

The window, dialogs and the operating point's summary use percentages
(:func:`format_probability`, :func:`format_threshold`); the command line's summary and the CSV's
message column use fractions (:func:`format_fraction`, :func:`format_pair`). Both never mislead:
a threshold strictly inside (0, 1) never reads 0 or 1 (or 0%/100%), and a probability just below
its threshold never reads as equal to it. Machine-readable outputs (CSV numbers, JSON, the audit
trail) keep the exact numbers.
"""

from __future__ import annotations

import math

#: Decimals of a fraction written for people (CLI summary, CSV message).
DECIMALS = 4

#: Probabilities closer than this to 0 or 1 are shown as "< 1%" / "> 99%": the model's
#: output is not that certain, and "100.0%" would read as certainty.
EDGE = 0.01


def format_probability(p: float | None, versus: float | None = None) -> str:
    """'73.4%', or '< 1%' / '> 99%' at the ends; '' when there is none. With ``versus`` (the
    threshold it is compared with), more decimals are added where one would make the two read
    equal although they are not (e.g. 35.19% against a 35.20% threshold)."""
    if p is None:
        return ""
    if p < EDGE:
        return "< 1%"
    if p > 1.0 - EDGE:
        return "> 99%"
    for decimals in range(1, 8):
        text = f"{100.0 * p:.{decimals}f}%"
        if versus is None or p == versus or text != f"{100.0 * versus:.{decimals}f}%":
            return text
    return f"{100.0 * p!r}%"


def format_threshold(t: float) -> str:
    """The decision threshold, the same way everywhere in the window: '35.2%' (more decimals
    only where one would read 0% or 100% for a threshold strictly inside (0, 1))."""
    for decimals in range(1, 17):
        text = f"{100.0 * t:.{decimals}f}%"
        shown = float(text[:-1]) / 100.0
        if not (math.isfinite(t) and shown != t and shown in (0.0, 1.0)):
            return text
    return f"{100.0 * t!r}%"


def format_fraction(value: float, decimals: int = DECIMALS) -> str:
    """``value`` with ``decimals`` decimals, or exactly (shortest round-trip form) when the
    rounded text would reach 0 or 1, which a threshold strictly inside (0, 1) never is."""
    text = f"{value:.{decimals}f}"
    shown = float(text)
    if math.isfinite(value) and shown != value and shown in (0.0, 1.0):
        return repr(float(value))
    return text


def format_pair(probability: float, threshold: float, decimals: int = DECIMALS) -> tuple[str, str]:
    """``(probability, threshold)`` as fractions with just enough decimals that the texts
    compare as the numbers do (equal only when equal, the smaller one smaller); neither reads 0
    or 1 unless it is."""
    for d in range(decimals, 18):
        p, t = format_fraction(probability, d), format_fraction(threshold, d)
        fp, ft = float(p), float(t)
        if (fp == ft) == (probability == threshold) and (fp < ft) == (probability < threshold):
            return p, t
    return repr(float(probability)), repr(float(threshold))
