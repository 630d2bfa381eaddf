"""CSV cells that spreadsheets will not execute: text starting with ``= + - @`` (or a tab or
carriage return) gets a leading apostrophe (OWASP CSV injection advice). Numbers are kept."""

from __future__ import annotations

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """A value safe to write with :mod:`csv`; None becomes an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value
