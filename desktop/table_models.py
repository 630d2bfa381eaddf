"""Qt item models (not widget lists) for the results table and the flagged-for-review list.

Both hold small row objects with no pixels. Rows are appended in chunks (one
``beginInsertRows`` per chunk); sorting is done by a :class:`QSortFilterProxyModel` on
:data:`SORT_ROLE`, so inserts never reorder the source rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from desktop.jobs import ResultRow
from desktop.review_store import FlagEntry

#: Role giving a value that sorts naturally (numbers as numbers, None last).
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: Role giving the row object itself.
ROW_ROLE = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex
_STATUS_TEXT = {"ok": "ok", "error": "error", "out_of_scope": "out of scope", "pending": "…"}
_FLAG_BRUSH = QBrush(QColor(190, 40, 40))
_WARN_BRUSH = QBrush(QColor(160, 100, 0))


def _percent(p: float | None) -> str:
    return "" if p is None else f"{100.0 * p:.1f}%"


class ResultTableModel(QAbstractTableModel):
    """The results table: file name, probability, prediction, status."""

    HEADERS = ("File", "Probability", "Prediction", "Status")

    def __init__(self, parent: object | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ResultRow] = []
        self._by_path: dict[str, int] = {}

    # -- Qt interface --------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.name, _percent(row.probability), row.prediction,
                    _STATUS_TEXT.get(row.status, row.status))[col]
        if role == SORT_ROLE:  # plain str/float: the proxy compares them in C++
            if col == 0:
                return row.name.lower()
            if col == 1:
                return -1.0 if row.probability is None else row.probability
            return row.prediction if col == 2 else row.status
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.path + (f"\n{row.message}" if row.message else "")
        if role == Qt.ItemDataRole.ForegroundRole and row.flagged:
            return _FLAG_BRUSH if row.status == "ok" else _WARN_BRUSH
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    # -- our interface -------------------------------------------------------------------
    def append_rows(self, rows: Sequence[ResultRow]) -> None:
        """Add a chunk of rows; a path already present is updated in place instead."""
        fresh: list[ResultRow] = []
        changed: list[int] = []
        for r in rows:
            i = self._by_path.get(r.path)
            if i is None:
                fresh.append(r)
            else:
                self._rows[i] = r
                changed.append(i)
        if changed:  # one signal for the whole chunk
            self.dataChanged.emit(self.index(min(changed), 0),
                                  self.index(max(changed), len(self.HEADERS) - 1))
        if not fresh:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        for k, r in enumerate(fresh):
            self._by_path[r.path] = first + k
        self._rows.extend(fresh)
        self.endInsertRows()

    def rows(self) -> list[ResultRow]:
        return self._rows

    def row_at(self, i: int) -> ResultRow:
        return self._rows[i]

    def row_of(self, path: str) -> int | None:
        return self._by_path.get(path)

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._by_path.clear()
        self.endResetModel()

    def rows_changed(self) -> None:
        """Tell views that row values changed (after a threshold change)."""
        if self._rows:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._rows) - 1, len(self.HEADERS) - 1))


class FlaggedTableModel(QAbstractTableModel):
    """The flagged-for-review list over :class:`FlagEntry` rows from the review store."""

    HEADERS = ("File", "Probability", "Finding", "Review", "Note")

    def __init__(self, parent: object | None = None) -> None:
        super().__init__(parent)
        self._entries: list[FlagEntry] = []
        self._by_key: dict[tuple[str, str], int] = {}

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        e = self._entries[index.row()]
        col = index.column()
        finding = e.prediction if e.status == "ok" else e.status.replace("_", " ")
        if role == Qt.ItemDataRole.DisplayRole:
            return (os.path.basename(e.path), _percent(e.probability), finding,
                    e.review_state, e.note)[col]
        if role == SORT_ROLE:  # plain str/float: the proxy compares them in C++
            if col == 1:  # ascending = most likely first, unassessed (no probability) last
                return 1.0 if e.probability is None else -e.probability
            if col == 0:
                return os.path.basename(e.path).lower()
            return (finding, e.review_state, e.note.lower())[col - 2]
        if role == ROW_ROLE:
            return e
        if role == Qt.ItemDataRole.ToolTipRole:
            return e.path + (f"\n{e.message}" if e.message else "")
        if role == Qt.ItemDataRole.ForegroundRole and e.review_state != "pending":
            return QBrush(QColor(120, 120, 120))
        return None

    def set_entries(self, entries: Sequence[FlagEntry]) -> None:
        self.beginResetModel()
        self._entries = list(entries)
        self._by_key = {e.key: i for i, e in enumerate(self._entries)}
        self.endResetModel()

    def upsert(self, entries: Sequence[FlagEntry]) -> None:
        """Add or refresh entries (a chunk)."""
        fresh: list[FlagEntry] = []
        changed: list[int] = []
        for e in entries:
            i = self._by_key.get(e.key)
            if i is None:
                fresh.append(e)
            else:
                self._entries[i] = e
                changed.append(i)
        if changed:  # one signal for the whole chunk
            self.dataChanged.emit(self.index(min(changed), 0),
                                  self.index(max(changed), len(self.HEADERS) - 1))
        if fresh:
            first = len(self._entries)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            for k, e in enumerate(fresh):
                self._by_key[e.key] = first + k
            self._entries.extend(fresh)
            self.endInsertRows()

    def remove(self, key: tuple[str, str]) -> None:
        i = self._by_key.get(key)
        if i is None:
            return
        self.beginRemoveRows(QModelIndex(), i, i)
        del self._entries[i]
        self.endRemoveRows()
        self._by_key = {e.key: j for j, e in enumerate(self._entries)}

    def entries(self) -> list[FlagEntry]:
        return self._entries

    def entry_at(self, i: int) -> FlagEntry:
        return self._entries[i]


class SortProxy(QSortFilterProxyModel):
    """Sorts on :data:`SORT_ROLE` (native comparisons), keeps sorting while rows arrive."""

    def __init__(self, source: QAbstractTableModel, column: int = 0,
                 order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        super().__init__(source)
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self.sort(column, order)
