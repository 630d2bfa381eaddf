"""Guard against Qt bindings that corrupt reference counts on signal emission.

PySide6 6.12.0 on CPython 3.11 drops one reference to ``True`` on every ``Signal.emit()``;
after a few thousand emissions (one batch of files) the interpreter aborts with
"bool_dealloc: deallocating True or False". pyproject.toml excludes that version; this test
fails if such a build is installed again.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from desktop.qt.app import qt_bindings_problem


class _Emitter(QObject):
    plain = Signal()
    value = Signal(object)
    pair = Signal(int, int)


def test_signal_emission_keeps_reference_counts(qapp):
    e = _Emitter()
    got = []
    e.value.connect(got.append)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for i in range(200):  # small: a broken build must fail this test, not abort pytest
        e.plain.emit()
        e.value.emit(i)
        e.pair.emit(i, i)
    after = sys.getrefcount(True), sys.getrefcount(False)
    assert len(got) == 200
    assert abs(after[0] - before[0]) < 50 and abs(after[1] - before[1]) < 50, (before, after)
    assert qt_bindings_problem() == ""
