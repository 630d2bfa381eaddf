"""The ONE way probabilities and the decision threshold are written for people (Qt-free):
the window, dialogs, the operating point's summary and any report use these.

Machine-readable outputs (CSV, JSON, the audit trail) keep the exact numbers.
"""

from __future__ import annotations

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
    """The decision threshold, the same way everywhere: '35.2%'."""
    return f"{100.0 * t:.1f}%"
