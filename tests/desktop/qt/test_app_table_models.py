"""The Qt item models without any view (vorta style)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from desktop.jobs import ResultRow
from desktop.qt.table_models import ROW_ROLE, FlaggedTableModel, ResultTableModel, SortProxy
from desktop.review_store import FlagEntry


def _row(name: str, p: float | None, status: str = "ok") -> ResultRow:
    pred = "" if p is None else ("PNEUMONIA" if p >= 0.5 else "NORMAL")
    return ResultRow(f"/d/{name}", status, p, pred, "", name * 8, 0.5,
                     status != "ok" or pred == "PNEUMONIA")


def _owner(qtbot) -> QWidget:
    """Models need a Qt parent that dies with the test (not at interpreter exit)."""
    w = QWidget()
    qtbot.addWidget(w)
    return w


def test_results_model_appends_updates_and_sorts(qtbot):
    owner = _owner(qtbot)
    m = ResultTableModel(owner)
    proxy = SortProxy(m, column=-1)
    with qtbot.waitSignal(m.rowsInserted):
        m.append_rows([_row("b.png", 0.7), _row("a.png", 0.2), _row("c.png", None, "error")])
    assert m.rowCount() == 3 and m.columnCount() == len(ResultTableModel.HEADERS) == 10
    assert m.index(0, 0).data() == "b.png" and m.index(0, 1).data() == "70.0%"
    assert m.index(2, 3).data() == "could not read" and m.index(2, 1).data() == ""
    assert m.index(0, 0).data(Qt.ItemDataRole.ForegroundRole) is not None  # flagged colour
    assert m.index(1, 0).data(Qt.ItemDataRole.ForegroundRole) is None
    proxy.sort(1, Qt.SortOrder.DescendingOrder)
    assert [proxy.index(i, 0).data() for i in range(3)] == ["b.png", "a.png", "c.png"]
    proxy.sort(0, Qt.SortOrder.AscendingOrder)
    assert [proxy.index(i, 0).data() for i in range(3)] == ["a.png", "b.png", "c.png"]
    # the same path again updates in place (one dataChanged), no new row
    with qtbot.waitSignal(m.dataChanged):
        m.append_rows([_row("a.png", 0.9)])
    assert m.rowCount() == 3
    assert m.row_at(m.row_of("/d/a.png")).probability == 0.9
    assert proxy.index(0, 0).data(ROW_ROLE).path == "/d/a.png"
    m.clear()
    assert m.rowCount() == 0 and m.row_of("/d/a.png") is None


def test_flagged_model_unassessed_first_then_most_likely(qtbot):
    """Issue 25: 'could not read' and 'not a chest X-ray' entries each need a human read;
    they form their own group at the top of the worklist (they sorted to the very bottom)."""
    owner = _owner(qtbot)
    m = FlaggedTableModel(owner)
    proxy = SortProxy(m, column=1)

    def e(name: str, p: float | None, status: str = "ok") -> FlagEntry:
        return FlagEntry(f"/d/{name}", name * 8, status, p, "PNEUMONIA" if p else "", "")

    m.upsert([e("x", 0.6), e("bad", None, "error"), e("y", 0.95)])
    m.upsert([e("z", 0.8), e("oos", None, "out_of_scope")])
    order = [proxy.index(i, 0).data() for i in range(proxy.rowCount())]
    assert set(order[:2]) == {"bad", "oos"} and order[2:] == ["y", "z", "x"]
    assert proxy.index(0, 2).data() in ("⚠ could not read", "⚠ not a chest X-ray")
    reviewed = e("x", 0.6)
    reviewed.review_state, reviewed.note = "reviewed", "ok"
    m.upsert([reviewed])
    assert m.rowCount() == 5
    assert m.index(0, 3).data() == "✓ reviewed" and m.index(0, 4).data() == "ok"
    m.remove(reviewed.key)
    assert m.rowCount() == 4 and [x.path for x in m.entries()][0] == "/d/bad"
